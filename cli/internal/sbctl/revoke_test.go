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

func TestUserRevoke(t *testing.T) {
	tests := []struct {
		name   string
		now    time.Time
		stdout string
	}{
		{"whole seconds", time.Date(2026, 11, 22, 1, 40, 0, 0, time.UTC),
			"revoked the tokens of user 5 issued before 2026-11-22T01:40:00Z\n"},
		{"fraction kept", time.Date(2026, 11, 22, 1, 40, 0, 500_000_000, time.UTC),
			"revoked the tokens of user 5 issued before 2026-11-22T01:40:00.5Z\n"},
		{"printed in UTC", time.Date(2026, 11, 22, 2, 40, 0, 0, time.FixedZone("CET", 3600)),
			"revoked the tokens of user 5 issued before 2026-11-22T01:40:00Z\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := servicetest.NewAuthAdmin()
			auth.SetNow(tt.now)
			r := run(t, map[string]string{"AUTH_ADDR": auth.Start(t)}, "user", "revoke", "--user", "5")
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("user revoke = exit %d, stdout %q, stderr %q; want 0, %q, no stderr", r.code, r.stdout, r.stderr, tt.stdout)
			}
			checkRequests(t, auth, "RevokeUser", &authv1.RevokeUserRequest{UserId: 5})
			if before, ok := auth.UserRevoked(5); !ok || !before.Equal(tt.now) {
				t.Errorf("revocation of user 5 = %v, %v; want before %v", before, ok, tt.now)
			}
		})
	}
}

func TestUserRevokeErrors(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	chatAddr := chat.Start(t)
	dead := deadAddr(t)
	tests := []struct {
		name   string
		err    error // RevokeUser's configured error
		addr   string
		stderr string
	}{
		{"invalid argument", status.Error(codes.InvalidArgument, "user_id must be positive"), "",
			"sbctl: user revoke: invalid request: user_id must be positive\n"},
		{"not found", status.Error(codes.NotFound, ""), "", "sbctl: user revoke: user 5 not found\n"},
		{"internal", status.Error(codes.Internal, "store closed"), "", "sbctl: user revoke: auth service error (Internal): store closed\n"},
		{"unreachable", nil, dead, "sbctl: auth service unreachable at " + dead + "\n"},
		{"chat service on the auth address", nil, chatAddr,
			"sbctl: auth service at " + chatAddr + " does not implement this call (wrong address or version?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := servicetest.NewAuthAdmin()
			auth.FailWith("RevokeUser", tt.err)
			addr := tt.addr
			if addr == "" {
				addr = auth.Start(t)
			}
			r := run(t, map[string]string{"AUTH_ADDR": addr}, "user", "revoke", "--user", "5")
			if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
				t.Errorf("user revoke = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", r.code, r.stdout, r.stderr, tt.stderr)
			}
			if _, ok := auth.UserRevoked(5); ok {
				t.Errorf("user 5 revoked after a failed call, want not")
			}
		})
	}
}

func TestUserRevokeFlagErrors(t *testing.T) {
	// Nothing listens here: a command that got past its flags would fail
	// with exit 1 instead of 2.
	env := map[string]string{"AUTH_ADDR": deadAddr(t)}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{}, "sbctl: user revoke: --user is required\n"},
		{[]string{"--user", "0"}, "sbctl: user revoke: --user 0: want a positive id\n"},
		{[]string{"--user", "-5"}, "sbctl: user revoke: --user -5: want a positive id\n"},
		{[]string{"--user", "five"}, "sbctl: user revoke: invalid value \"five\" for flag -user: parse error (run 'sbctl user revoke -h')\n"},
		{[]string{"--user", "5", "6"}, "sbctl: user revoke: unexpected argument \"6\"\n"},
		{[]string{"--jti", "j"}, "sbctl: user revoke: flag provided but not defined: -jti (run 'sbctl user revoke -h')\n"},
	}
	for _, tt := range tests {
		args := append([]string{"user", "revoke"}, tt.args...)
		r := run(t, env, args...)
		if r.code != 2 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("sbctl %s = exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}
