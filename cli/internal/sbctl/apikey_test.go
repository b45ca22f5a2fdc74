package sbctl

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/cli/internal/servicetest"
)

func TestAPIKeyCommands(t *testing.T) {
	auth := servicetest.NewAuthAdmin()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)
	auth.SetNow(t0)
	env := map[string]string{"AUTH_ADDR": auth.Start(t)}

	r := run(t, env, "apikey", "list")
	if want := "ID  ENV  NAME  CREATED  REVOKED\n"; r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("apikey list with no keys = exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, want)
	}

	creates := []struct {
		args   []string
		stdout string
	}{
		{[]string{"--env", "TEST01", "--name", "ci bridge"},
			"created API key key_000000000001 (env TEST01, name \"ci bridge\"); the key below is shown this once:\n" +
				"sk_TEST01_00000000000000000000000000000001\n"},
		{[]string{"--env", "LIVE"},
			"created API key key_000000000002 (env LIVE); the key below is shown this once:\n" +
				"sk_LIVE_00000000000000000000000000000002\n"},
	}
	for _, tt := range creates {
		r := run(t, env, append([]string{"apikey", "create"}, tt.args...)...)
		if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
			t.Errorf("apikey create %v = exit %d, stdout %q, stderr %q; want 0, %q", tt.args, r.code, r.stdout, r.stderr, tt.stdout)
		}
	}
	checkRequests(t, auth, "CreateAPIKey",
		&authv1.CreateAPIKeyRequest{Env: "TEST01", Name: "ci bridge"}, &authv1.CreateAPIKeyRequest{Env: "LIVE"})

	auth.SetNow(t0.Add(time.Hour))
	r = run(t, env, "apikey", "revoke", "--id", "key_000000000001")
	if want := "revoked API key key_000000000001\n"; r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("apikey revoke = exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, want)
	}
	checkRequests(t, auth, "RevokeAPIKey", &authv1.RevokeAPIKeyRequest{Id: "key_000000000001"})
	if keys := auth.APIKeys(); len(keys) != 2 || keys[0].GetRevokedAt() == nil || keys[1].GetRevokedAt() != nil {
		t.Errorf("keys after apikey revoke = %v, want the first revoked only", keys)
	}

	r = run(t, env, "apikey", "list")
	want := "" +
		"ID                ENV     NAME       CREATED               REVOKED\n" +
		"key_000000000001  TEST01  ci bridge  2026-03-04T05:06:07Z  2026-03-04T06:06:07Z\n" +
		"key_000000000002  LIVE    -          2026-03-04T05:06:07Z  -\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("apikey list = exit %d, stdout %q, stderr %q; want 0 and\n%s", r.code, r.stdout, r.stderr, want)
	}
	checkRequests(t, auth, "ListAPIKeys", &authv1.ListAPIKeysRequest{}, &authv1.ListAPIKeysRequest{})
}

func TestAPIKeyCreateLastLineIsTheKey(t *testing.T) {
	auth := servicetest.NewAuthAdmin()
	r := run(t, map[string]string{"AUTH_ADDR": auth.Start(t)}, "apikey", "create", "--env", "X", "--name", "a name\nthat lies")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if want := "sk_X_00000000000000000000000000000001"; r.code != 0 || lines[len(lines)-1] != want {
		t.Errorf("apikey create = exit %d, stdout %q; want 0 and %s alone as the last line", r.code, r.stdout, want)
	}
	// The name is quoted: what it holds cannot pass for a line of its own.
	if len(lines) != 2 {
		t.Errorf("apikey create printed %d lines %q, want 2: the description and the key", len(lines), lines)
	}
}

func TestAPIKeyErrors(t *testing.T) {
	auth := servicetest.NewAuthAdmin()
	addr := auth.Start(t)
	chat := servicetest.NewChatAdmin()
	chatAddr := chat.Start(t)
	dead := deadAddr(t)
	tests := []struct {
		name   string
		fail   string // method failing with err
		err    error
		addr   string
		args   []string
		stderr string
	}{
		{"bad env", "", nil, addr, []string{"apikey", "create", "--env", "test"}, "sbctl: apikey create: invalid request: env must be 1 to 16 characters of A-Z and 0-9\n"},
		{"unknown id", "", nil, addr, []string{"apikey", "revoke", "--id", "key_nope"}, "sbctl: apikey revoke: API key key_nope not found (API key not found)\n"},
		{"internal on list", "ListAPIKeys", status.Error(codes.Internal, "internal error"), addr, []string{"apikey", "list"},
			"sbctl: apikey list: auth service error (Internal): internal error\n"},
		{"unreachable", "", nil, dead, []string{"apikey", "list"}, "sbctl: auth service unreachable at " + dead + "\n"},
		{"chat service on the auth address", "", nil, chatAddr, []string{"apikey", "create", "--env", "LIVE"},
			"sbctl: auth service at " + chatAddr + " does not implement this call (wrong address or version?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != "" {
				auth.FailWith(tt.fail, tt.err)
				defer auth.FailWith(tt.fail, nil)
			}
			r := run(t, map[string]string{"AUTH_ADDR": tt.addr}, tt.args...)
			if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
			}
		})
	}
	if keys := auth.APIKeys(); len(keys) != 0 {
		t.Errorf("keys after failed commands = %v, want none", keys)
	}
}

func TestAPIKeyFlagErrors(t *testing.T) {
	// Nothing listens here: a command that got past its flags would fail
	// with exit 1 instead of 2.
	env := map[string]string{"AUTH_ADDR": deadAddr(t)}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"apikey", "create"}, "sbctl: apikey create: --env is required\n"},
		{[]string{"apikey", "create", "--name", "x"}, "sbctl: apikey create: --env is required\n"},
		{[]string{"apikey", "revoke"}, "sbctl: apikey revoke: --id is required\n"},
		{[]string{"apikey", "list", "extra"}, "sbctl: apikey list: unexpected argument \"extra\"\n"},
		{[]string{"apikey", "list", "--id", "k"}, "sbctl: apikey list: flag provided but not defined: -id (run 'sbctl apikey list -h')\n"},
		{[]string{"apikey"}, "sbctl: unknown command \"apikey\" (run 'sbctl help')\n"},
		{[]string{"apikey", "delete"}, "sbctl: unknown command \"apikey delete\" (run 'sbctl help')\n"},
	}
	for _, tt := range tests {
		r := run(t, env, tt.args...)
		if r.code != 2 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("sbctl %s = exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}

func TestAPIKeyHelp(t *testing.T) {
	for _, cmd := range []string{"apikey create --env ENV [--name N]", "apikey list", "apikey revoke --id ID", "tail -1"} {
		if !strings.Contains(Usage, cmd) {
			t.Errorf("Usage does not list %q", cmd)
		}
	}
	for _, tt := range []struct {
		cmd   string
		flags []string
	}{
		{"create", []string{"-env", "-name"}},
		{"revoke", []string{"-id"}},
	} {
		r := run(t, nil, "apikey", tt.cmd, "-h")
		for _, f := range tt.flags {
			if r.code != 0 || !strings.Contains(r.stdout, f) {
				t.Errorf("sbctl apikey %s -h = exit %d, stdout %q; want 0 and flag %s", tt.cmd, r.code, r.stdout, f)
			}
		}
	}
}
