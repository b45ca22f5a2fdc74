package sbctl

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/cli/internal/servicetest"
)

func TestPresenceGet(t *testing.T) {
	presence := servicetest.NewPresence()
	presence.SetPresence(&presencev1.UserPresence{UserId: 5, Online: true, Sessions: 2,
		LastSeen: timestamppb.New(time.Date(2026, 11, 22, 1, 40, 0, 0, time.UTC))})
	presence.SetPresence(&presencev1.UserPresence{UserId: 7,
		LastSeen: timestamppb.New(time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC))})
	addr := presence.Start(t)
	const (
		five  = `{"user_id":"5","online":true,"sessions":2,"last_seen":"2026-11-22T01:40:00Z"}` + "\n"
		six   = `{"user_id":"6","online":false,"sessions":0,"last_seen":null}` + "\n"
		seven = `{"user_id":"7","online":false,"sessions":0,"last_seen":"2026-11-21T08:00:00Z"}` + "\n"
	)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		ids    []int64
		stdout string
	}{
		{"one user", map[string]string{"PRESENCE_ADDR": addr}, []string{"--user", "5"}, []int64{5}, five},
		{"in the order asked", map[string]string{"PRESENCE_ADDR": addr}, []string{"--user", "7,6,5"}, []int64{7, 6, 5}, seven + six + five},
		{"spaces and repeats", map[string]string{"PRESENCE_ADDR": addr}, []string{"--user", " 6, 5 ,6"}, []int64{6, 5}, six + five},
		{"the flag overrides the environment", map[string]string{"PRESENCE_ADDR": deadAddr(t)},
			[]string{"--user", "6", "--presence-addr", addr}, []int64{6}, six},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(presence.Requests("GetPresence"))
			args := append([]string{"presence", "get"}, tt.args...)
			r := run(t, tt.env, args...)
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want 0, %q, no stderr", args, r.code, r.stdout, r.stderr, tt.stdout)
			}
			got := presence.Requests("GetPresence")[before:]
			want := &presencev1.GetPresenceRequest{UserIds: tt.ids}
			if len(got) != 1 || !proto.Equal(got[0], want) {
				t.Errorf("sbctl %v sent %v, want %v", args, got, want)
			}
		})
	}
	if n := presence.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d GetPresence calls without a deadline, want 0", n)
	}
}

// userList returns "1,2,...,n".
func userList(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	return strings.Join(ids, ",")
}

func TestPresenceGetLimit(t *testing.T) {
	presence := servicetest.NewPresence()
	env := map[string]string{"PRESENCE_ADDR": presence.Start(t)}
	r := run(t, env, "presence", "get", "--user", userList(MaxPresenceUsers))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("presence get with %d users = exit %d, stderr %q; want 0", MaxPresenceUsers, r.code, r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	if len(lines) != MaxPresenceUsers || lines[0]["user_id"] != "1" || lines[len(lines)-1]["user_id"] != fmt.Sprint(MaxPresenceUsers) {
		t.Errorf("presence get with %d users printed %d lines, want one per user in order", MaxPresenceUsers, len(lines))
	}
	r = run(t, env, "presence", "get", "--user", userList(MaxPresenceUsers+1))
	if want := "sbctl: presence get: --user: 1001 users, want at most 1000\n"; r.code != 2 || r.stderr != want || r.stdout != "" {
		t.Errorf("presence get with %d users = exit %d, stdout %q, stderr %q; want exit 2, %q", MaxPresenceUsers+1, r.code, r.stdout, r.stderr, want)
	}
	if n := len(presence.Requests("GetPresence")); n != 1 {
		t.Errorf("GetPresence received %d requests, want 1 (the call over the limit is refused before asking)", n)
	}
}

func TestAnnounce(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   *presencev1.AnnounceRequest
		stdout string
	}{
		{"everyone", []string{"--title", "Maintenance", "--message", "Down at 22:00"},
			&presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "Maintenance", Message: "Down at 22:00"}},
			"announced to everyone\n"},
		{"all fields to users", []string{"--title", "Maintenance", "--message", "Down at 22:00", "--type", "maintenance", "--priority", "high", "--users", "1,2,3"},
			&presencev1.AnnounceRequest{
				Announcement: &presencev1.Announcement{Title: "Maintenance", Message: "Down at 22:00", Type: "maintenance", Priority: "high"},
				UserIds:      []int64{1, 2, 3},
			},
			"announced to 3 users\n"},
		{"one user", []string{"--title", "Hi", "--message", "Welcome", "--users", "42"},
			&presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "Hi", Message: "Welcome"}, UserIds: []int64{42}},
			"announced to 1 user\n"},
		{"repeats count once", []string{"--title", "Hi", "--message", "Welcome", "--users", "4, 9,4"},
			&presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "Hi", Message: "Welcome"}, UserIds: []int64{4, 9}},
			"announced to 2 users\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := servicetest.NewPresenceAdmin()
			args := append([]string{"announce"}, tt.args...)
			r := run(t, map[string]string{"PRESENCE_ADDR": admin.Start(t)}, args...)
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want 0, %q, no stderr", args, r.code, r.stdout, r.stderr, tt.stdout)
			}
			checkRequests(t, admin, "Announce", tt.want)
			if got := admin.Announcements(); len(got) != 1 || !proto.Equal(got[0], tt.want) {
				t.Errorf("announcements after sbctl %v = %v, want [%v]", args, got, tt.want)
			}
		})
	}
}

func TestPresenceOneAddress(t *testing.T) {
	presence := servicetest.NewPresence()
	admin := servicetest.NewPresenceAdmin()
	env := map[string]string{"PRESENCE_ADDR": servicetest.ServePresence(t, presence, admin)}
	if r := run(t, env, "presence", "get", "--user", "3"); r.code != 0 || r.stderr != "" {
		t.Errorf("presence get on the shared address = exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	if r := run(t, env, "announce", "--title", "t", "--message", "m"); r.code != 0 || r.stderr != "" {
		t.Errorf("announce on the shared address = exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	if len(presence.Requests("GetPresence")) != 1 || len(admin.Announcements()) != 1 {
		t.Errorf("GetPresence requests %v, announcements %v; want one of each", presence.Requests("GetPresence"), admin.Announcements())
	}
}

func TestPresenceErrors(t *testing.T) {
	dead := deadAddr(t)
	// Each fake alone implements one of the two APIs.
	presenceOnly := servicetest.NewPresence().Start(t)
	adminOnly := servicetest.NewPresenceAdmin().Start(t)
	tests := []struct {
		name   string
		method string // the method failing with err, on fakes of both APIs
		err    error
		addr   string // empty: the fakes'
		args   []string
		stderr string
	}{
		{"get invalid argument", "GetPresence", status.Error(codes.InvalidArgument, "user_ids must be positive"), "",
			[]string{"presence", "get", "--user", "5"}, "sbctl: presence get: invalid request: user_ids must be positive\n"},
		{"get not found names the users", "GetPresence", status.Error(codes.NotFound, ""), "",
			[]string{"presence", "get", "--user", "5,6,9"}, "sbctl: presence get: users 5 to 9 (3 users) not found\n"},
		{"get not found names the user", "GetPresence", status.Error(codes.NotFound, ""), "",
			[]string{"presence", "get", "--user", "5"}, "sbctl: presence get: user 5 not found\n"},
		{"get unavailable from the service", "GetPresence", status.Error(codes.Unavailable, "draining"), "",
			[]string{"presence", "get", "--user", "5"}, "sbctl: presence service unreachable at ADDR\n"},
		{"get unreachable", "", nil, dead,
			[]string{"presence", "get", "--user", "5"}, "sbctl: presence service unreachable at " + dead + "\n"},
		{"get from the admin API alone", "", nil, adminOnly,
			[]string{"presence", "get", "--user", "5"}, "sbctl: presence service at " + adminOnly + " does not implement this call (wrong address or version?)\n"},
		{"announce invalid argument", "Announce", status.Error(codes.InvalidArgument, "title longer than 200 bytes"), "",
			[]string{"announce", "--title", "t", "--message", "m"}, "sbctl: announce: invalid request: title longer than 200 bytes\n"},
		{"announce permission denied", "Announce", status.Error(codes.PermissionDenied, "operators only"), "",
			[]string{"announce", "--title", "t", "--message", "m", "--users", "1"}, "sbctl: announce: permission denied: operators only\n"},
		{"announce unreachable", "", nil, dead,
			[]string{"announce", "--title", "t", "--message", "m"}, "sbctl: presence service unreachable at " + dead + "\n"},
		{"announce to the presence API alone", "", nil, presenceOnly,
			[]string{"announce", "--title", "t", "--message", "m"}, "sbctl: presence service at " + presenceOnly + " does not implement this call (wrong address or version?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			presence := servicetest.NewPresence()
			admin := servicetest.NewPresenceAdmin()
			presence.FailWith(tt.method, tt.err)
			admin.FailWith(tt.method, tt.err)
			addr := tt.addr
			if addr == "" {
				addr = servicetest.ServePresence(t, presence, admin)
			}
			want := strings.ReplaceAll(tt.stderr, "ADDR", addr)
			r := run(t, map[string]string{"PRESENCE_ADDR": addr}, tt.args...)
			if r.code != 1 || r.stderr != want || r.stdout != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, want)
			}
			if tt.addr == "" {
				if n := len(presence.Requests(tt.method)) + len(admin.Requests(tt.method)); n != 1 {
					t.Errorf("sbctl %v: %s received %d requests, want 1", tt.args, tt.method, n)
				}
			}
			if got := admin.Announcements(); len(got) != 0 {
				t.Errorf("announcements after a failed call = %v, want none", got)
			}
		})
	}
}

func TestPresenceFlagErrors(t *testing.T) {
	// Nothing listens here: a command that got past its flags would fail
	// with exit 1 instead of 2.
	env := map[string]string{"PRESENCE_ADDR": deadAddr(t)}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"presence", "get"}, "sbctl: presence get: --user is required\n"},
		{[]string{"presence", "get", "--user", ""}, "sbctl: presence get: --user \"\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "5,,6"}, "sbctl: presence get: --user \"5,,6\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "5,x"}, "sbctl: presence get: --user \"5,x\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "0"}, "sbctl: presence get: --user \"0\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "5,-6"}, "sbctl: presence get: --user \"5,-6\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "5,"}, "sbctl: presence get: --user \"5,\": want positive user ids separated by commas\n"},
		{[]string{"presence", "get", "--user", "5", "6"}, "sbctl: presence get: unexpected argument \"6\"\n"},
		{[]string{"presence", "get", "--user", "5", "--timeout", "0s"}, "sbctl: presence get: --timeout must be positive\n"},
		{[]string{"presence"}, "sbctl: unknown command \"presence\" (run 'sbctl help')\n"},
		{[]string{"presence", "set"}, "sbctl: unknown command \"presence set\" (run 'sbctl help')\n"},
		{[]string{"announce"}, "sbctl: announce: --title, --message are required\n"},
		{[]string{"announce", "--title", "t"}, "sbctl: announce: --message is required\n"},
		{[]string{"announce", "--message", "m", "--users", "1"}, "sbctl: announce: --title is required\n"},
		{[]string{"announce", "--title", "t", "--message", "m", "--users", ""}, "sbctl: announce: --users \"\": want positive user ids separated by commas\n"},
		{[]string{"announce", "--title", "t", "--message", "m", "--users", "1,0"}, "sbctl: announce: --users \"1,0\": want positive user ids separated by commas\n"},
		{[]string{"announce", "--title", "t", "--message", "m", "--users", "all"}, "sbctl: announce: --users \"all\": want positive user ids separated by commas\n"},
		{[]string{"announce", "--title", "t", "--message", "m", "--user", "1"}, "sbctl: announce: flag provided but not defined: -user (run 'sbctl announce -h')\n"},
	}
	for _, tt := range tests {
		r := run(t, env, tt.args...)
		if r.code != 2 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("sbctl %q = exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}

func TestPresenceCommandHelp(t *testing.T) {
	for _, tt := range []struct {
		cmd   []string
		flags []string
	}{
		{[]string{"presence", "get"}, []string{"-user", "-presence-addr", "-timeout"}},
		{[]string{"announce"}, []string{"-title", "-message", "-type", "-priority", "-users", "-presence-addr"}},
		{[]string{"user", "revoke"}, []string{"-user", "-auth-addr"}},
	} {
		args := append(tt.cmd, "-h")
		r := run(t, map[string]string{"PRESENCE_ADDR": "presence.internal:9103"}, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: sbctl "+strings.Join(tt.cmd, " ")+" [flags]\n") {
			t.Errorf("sbctl %v = exit %d, stdout %q; want 0 and the command's usage", args, r.code, r.stdout)
		}
		for _, f := range tt.flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("sbctl %v does not list %s: %q", args, f, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "presence.internal:9103") {
			t.Errorf("sbctl %v does not show PRESENCE_ADDR as the default of --presence-addr: %q", args, r.stdout)
		}
	}
	for _, s := range []string{"user revoke --user ID", "presence get --user ID[,ID...]", "announce --title T --message M",
		"--presence-addr", "PRESENCE_ADDR", DefaultPresenceAddr} {
		if !strings.Contains(Usage, s) {
			t.Errorf("Usage does not mention %q", s)
		}
	}
}
