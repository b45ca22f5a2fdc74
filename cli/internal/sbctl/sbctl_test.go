package sbctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/servicetest"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := Run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestRoomCommands(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"CHAT_ADDR": chat.Start(t)}

	r := run(t, env, "room", "create", "--id", "7", "--name", "Lobby", "--max-members", "50", "--invite-only")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("room create = exit %d, stderr %q; want 0 and no stderr", r.code, r.stderr)
	}
	var room map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &room); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("room create stdout = %q, want one JSON line (%v)", r.stdout, err)
	}
	if room["id"] != "7" || room["name"] != "Lobby" || room["max_members"] != 50.0 || room["invite_only"] != true || room["member_count"] != 0.0 {
		t.Errorf("room create printed %v, want id \"7\", name Lobby, max_members 50, invite_only true, member_count 0", room)
	}
	if got := chat.Room(7); got.GetName() != "Lobby" || got.GetMaxMembers() != 50 || !got.GetInviteOnly() {
		t.Errorf("stored room = %v, want Lobby/50/invite-only", got)
	}

	r = run(t, env, "room", "get", "--id", "7")
	if r.code != 0 || !strings.Contains(r.stdout, `"name":"Lobby"`) {
		t.Errorf("room get = exit %d, stdout %q; want 0 and the room", r.code, r.stdout)
	}

	r = run(t, env, "room", "invite", "--room", "7", "--user", "42")
	if r.code != 0 || r.stdout != "invited user 42 to room 7\n" {
		t.Errorf("room invite = exit %d, stdout %q, stderr %q; want 0 and a confirmation", r.code, r.stdout, r.stderr)
	}
	if got := chat.Invites(7); len(got) != 1 || got[0] != 42 {
		t.Errorf("invites of room 7 = %v, want [42]", got)
	}
}

func TestAuthCommands(t *testing.T) {
	auth := servicetest.NewAuthAdmin()
	addr := auth.Start(t)

	// The flag overrides the environment.
	env := map[string]string{"AUTH_ADDR": deadAddr(t)}
	r := run(t, env, "user", "put", "--auth-addr", addr, "--user", "5", "--nickname", "Ann")
	if r.code != 0 || r.stdout != `{"user_id":"5","nickname":"Ann"}`+"\n" {
		t.Errorf("user put = exit %d, stdout %q, stderr %q; want 0 and the user", r.code, r.stdout, r.stderr)
	}
	if n, ok := auth.User(5); !ok || n != "Ann" {
		t.Errorf("stored user 5 = %q, %v; want Ann", n, ok)
	}

	env = map[string]string{"AUTH_ADDR": addr}
	r = run(t, env, "token", "revoke", "--jti", "Xk3fP9qLm2Zt7Bw1", "--expires-at", "2030-01-02T03:04:05Z")
	if r.code != 0 || r.stdout != "revoked token Xk3fP9qLm2Zt7Bw1\n" {
		t.Errorf("token revoke = exit %d, stdout %q, stderr %q; want 0 and a confirmation", r.code, r.stdout, r.stderr)
	}
	exp, ok := auth.Revoked("Xk3fP9qLm2Zt7Bw1")
	if !ok || !exp.AsTime().Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("revocation = %v, %v; want the jti with expiry 2030-01-02T03:04:05Z", exp, ok)
	}
}

func TestErrors(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 7, Name: "taken"})
	chatAddr := chat.Start(t)
	dead := deadAddr(t)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"already exists", map[string]string{"CHAT_ADDR": chatAddr}, []string{"room", "create", "--id", "7", "--name", "x"}, 1,
			"sbctl: room create: room 7 already exists\n"},
		{"not found", map[string]string{"CHAT_ADDR": chatAddr}, []string{"room", "get", "--id", "8"}, 1,
			"sbctl: room get: room 8 not found\n"},
		{"invite to missing room", map[string]string{"CHAT_ADDR": chatAddr}, []string{"room", "invite", "--room", "9", "--user", "1"}, 1,
			"sbctl: room invite: room 9 not found\n"},
		{"chat unreachable", map[string]string{"CHAT_ADDR": dead}, []string{"room", "get", "--id", "1"}, 1,
			"sbctl: chat service unreachable at " + dead + "\n"},
		{"auth unreachable", map[string]string{}, []string{"token", "revoke", "--jti", "j", "--auth-addr", dead}, 1,
			"sbctl: auth service unreachable at " + dead + "\n"},
		{"chat service on the auth address", map[string]string{"AUTH_ADDR": chatAddr}, []string{"token", "revoke", "--jti", "j"}, 1,
			"sbctl: auth service at " + chatAddr + " does not implement this call (wrong address or version?)\n"},
		{"missing id and name", nil, []string{"room", "create"}, 2, "sbctl: room create: --id, --name are required\n"},
		{"missing id", nil, []string{"room", "get"}, 2, "sbctl: room get: --id is required\n"},
		{"missing user", nil, []string{"room", "invite", "--room", "1"}, 2, "sbctl: room invite: --user is required\n"},
		{"missing nickname", nil, []string{"user", "put", "--user", "1"}, 2, "sbctl: user put: --nickname is required\n"},
		{"missing jti", nil, []string{"token", "revoke"}, 2, "sbctl: token revoke: --jti is required\n"},
		{"missing token user", map[string]string{"JWT_SECRET": "s"}, []string{"token"}, 2, "sbctl: token: --user is required\n"},
		{"bad expiry", nil, []string{"token", "revoke", "--jti", "j", "--expires-at", "tomorrow"}, 2,
			"sbctl: token revoke: --expires-at \"tomorrow\": want RFC 3339 such as 2026-01-01T12:00:00Z\n"},
		{"unknown flag", nil, []string{"room", "get", "--nope"}, 2,
			"sbctl: room get: flag provided but not defined: -nope (run 'sbctl room get -h')\n"},
		{"extra argument", nil, []string{"room", "get", "--id", "1", "extra"}, 2, "sbctl: room get: unexpected argument \"extra\"\n"},
		{"unknown command", nil, []string{"room", "rename"}, 2, "sbctl: unknown command \"room rename\" (run 'sbctl help')\n"},
		{"unknown single command", nil, []string{"rooms"}, 2, "sbctl: unknown command \"rooms\" (run 'sbctl help')\n"},
		{"bad timeout env", nil, []string{"room", "get", "--id", "1", "--timeout", "0s"}, 2, "sbctl: room get: --timeout must be positive\n"},
		{"no secret", nil, []string{"token", "--user", "1"}, 1,
			"sbctl: token: JWT_SECRET is empty: set it to the Laravel backend's JWT_SECRET\n"},
		{"asymmetric algorithm", map[string]string{"JWT_SECRET": "s", "JWT_ALGO": "RS256"}, []string{"token", "--user", "1"}, 1,
			"sbctl: token: JWT_ALGO \"RS256\": only HS256, HS384 and HS512 can be minted with JWT_SECRET\n"},
		{"bad ttl", map[string]string{"JWT_SECRET": "s"}, []string{"token", "--user", "1", "--ttl", "-1h"}, 2, "sbctl: token: --ttl must be positive\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.env, tt.args...)
			if r.code != tt.code || r.stderr != tt.stderr {
				t.Errorf("sbctl %v = exit %d, stderr %q; want exit %d, stderr %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
			}
			if tt.code != 0 && r.stdout != "" {
				t.Errorf("sbctl %v stdout = %q, want nothing on failure", tt.args, r.stdout)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	// A listener that accepts and never speaks HTTP/2: the call must end at the deadline.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := lis.Addr().String()
	start := time.Now()
	r := run(t, nil, "room", "get", "--id", "1", "--chat-addr", addr, "--timeout", "200ms")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "sbctl: chat service ") {
		t.Errorf("room get against a silent server = exit %d, stderr %q; want exit 1 and a chat service message", r.code, r.stderr)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("room get with --timeout 200ms took %v, want it bounded by the deadline", elapsed)
	}
}

func TestTokenMint(t *testing.T) {
	secret := "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		alg    string
		iss    string
		ttl    int64
		nick   any
		secret string
	}{
		{"defaults from env", map[string]string{"JWT_SECRET": secret}, []string{"token", "--user", "123"}, "HS256", "http://localhost/api/auth/login", 3600, nil, secret},
		{"all flags", map[string]string{"JWT_SECRET": "ignored", "JWT_ALGO": "HS256"},
			[]string{"token", "--user", "9", "--nickname", "Bo", "--ttl", "2h", "--issuer", "https://api.example.com/api/auth/refresh", "--jwt-secret", "other", "--jwt-algo", "HS512"},
			"HS512", "https://api.example.com/api/auth/refresh", 7200, "Bo", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.env, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("sbctl %v = exit %d, stderr %q; want 0", tt.args, r.code, r.stderr)
			}
			tok := strings.TrimSuffix(r.stdout, "\n")
			if strings.ContainsAny(tok, " \n") || strings.Count(tok, ".") != 2 {
				t.Fatalf("stdout = %q, want the token alone", r.stdout)
			}
			claims := jwt.MapClaims{}
			parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{tt.alg})).ParseWithClaims(tok, claims,
				func(*jwt.Token) (any, error) { return []byte(tt.secret), nil })
			if err != nil {
				t.Fatalf("parse minted token: %v", err)
			}
			if parsed.Method.Alg() != tt.alg {
				t.Errorf("alg = %s, want %s", parsed.Method.Alg(), tt.alg)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if claims["iss"] != tt.iss || int64(exp-iat) != tt.ttl || claims["nickname"] != tt.nick {
				t.Errorf("claims = %v, want iss %s, exp-iat %d, nickname %v", claims, tt.iss, tt.ttl, tt.nick)
			}
			if _, ok := claims["sub"].(string); !ok {
				t.Errorf("sub = %#v, want a string", claims["sub"])
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := run(t, nil, args...)
		if r.code != 0 || r.stdout != Usage {
			t.Errorf("sbctl %v = exit %d, stdout %q; want 0 and the usage", args, r.code, r.stdout)
		}
	}
	for _, cmd := range []string{"room create", "--retention-messages", "--retention-age", "room get", "room list", "--all",
		"room delete", "room invite", "room ban", "room unban", "room kick", "room post", "messages --room", "block --user",
		"unblock --user", "user put", "token revoke", "token --user", "backup --service", "--signaling-addr"} {
		if !strings.Contains(Usage, cmd) {
			t.Errorf("Usage does not list %q", cmd)
		}
	}
	r := run(t, nil)
	if r.code != 2 || r.stderr != Usage {
		t.Errorf("sbctl with no command = exit %d, stderr %q; want 2 and the usage", r.code, r.stderr)
	}
	r = run(t, map[string]string{"JWT_SECRET": "very-secret-value"}, "token", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "-nickname") || !strings.Contains(r.stdout, "-jwt-secret") {
		t.Errorf("sbctl token -h = exit %d, stdout %q; want 0 and the flags", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "very-secret-value") {
		t.Errorf("sbctl token -h printed the secret: %q", r.stdout)
	}
}
