package sbctl

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/cli/internal/servicetest"
)

// videoRooms returns open video rooms for the fakes: in chat room 7,
// "Standup" (the oldest, two participants) and "Quiz" with a name that
// holds a tab and a line break; in chat room 8, "Design review" (nobody
// in it, as after a restart of the service).
func videoRooms() []*signalingv1.VideoRoom {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)
	participant := func(user int64) *signalingv1.Participant {
		return &signalingv1.Participant{UserId: user, Nickname: "n", JoinedAt: timestamppb.New(t0)}
	}
	return []*signalingv1.VideoRoom{
		{VideoRoomId: 200, ChatroomId: 7, Name: "Standup", HostUserId: 5, MaxParticipants: 16,
			Participants: []*signalingv1.Participant{participant(5), participant(12)}, CreatedAt: timestamppb.New(t0)},
		{VideoRoomId: 201, ChatroomId: 8, Name: "Design review", HostUserId: 6, MaxParticipants: 4,
			CreatedAt: timestamppb.New(t0.Add(time.Minute))},
		{VideoRoomId: 202, ChatroomId: 7, Name: "Quiz\tnight\n203  7", HostUserId: 9, MaxParticipants: 2,
			Participants: []*signalingv1.Participant{participant(9)}, CreatedAt: timestamppb.New(t0.Add(2 * time.Minute))},
	}
}

func TestVideoList(t *testing.T) {
	signaling := servicetest.NewSignalingAdmin()
	for _, r := range videoRooms() {
		signaling.PutVideoRoom(r)
	}
	addr := signaling.Start(t)
	emptyAddr := servicetest.NewSignalingAdmin().Start(t)
	const (
		all = "" +
			"ID   CHATROOM  NAME                   HOST  PARTICIPANTS  CREATED               USERS\n" +
			"200  7         Standup                5     2/16          2026-03-04T05:06:07Z  5,12\n" +
			"201  8         Design review          6     0/4           2026-03-04T05:07:07Z  -\n" +
			"202  7         \"Quiz\\tnight\\n203  7\"  9     1/2           2026-03-04T05:08:07Z  9\n"
		seven = "" +
			"ID   CHATROOM  NAME                   HOST  PARTICIPANTS  CREATED               USERS\n" +
			"200  7         Standup                5     2/16          2026-03-04T05:06:07Z  5,12\n" +
			"202  7         \"Quiz\\tnight\\n203  7\"  9     1/2           2026-03-04T05:08:07Z  9\n"
		eight = "" +
			"ID   CHATROOM  NAME           HOST  PARTICIPANTS  CREATED               USERS\n" +
			"201  8         Design review  6     0/4           2026-03-04T05:07:07Z  -\n"
		none = "ID  CHATROOM  NAME  HOST  PARTICIPANTS  CREATED  USERS\n"
	)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		chatroom int64 // the filter sent
		stdout   string
	}{
		{"every chat room, oldest first", map[string]string{"SIGNALING_ADDR": addr}, nil, 0, all},
		{"one chat room", map[string]string{"SIGNALING_ADDR": addr}, []string{"--chatroom", "7"}, 7, seven},
		{"another chat room", map[string]string{"SIGNALING_ADDR": addr}, []string{"--chatroom", "8"}, 8, eight},
		{"a chat room without video rooms", map[string]string{"SIGNALING_ADDR": addr}, []string{"--chatroom", "9"}, 9, none},
		{"0 is every chat room", map[string]string{"SIGNALING_ADDR": addr}, []string{"--chatroom", "0"}, 0, all},
		{"the flag overrides the environment", map[string]string{"SIGNALING_ADDR": deadAddr(t)},
			[]string{"--signaling-addr", addr, "--chatroom", "8"}, 8, eight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(signaling.Requests("ListVideoRooms"))
			args := append([]string{"video", "list"}, tt.args...)
			r := run(t, tt.env, args...)
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("sbctl %q = exit %d, stdout %q, stderr %q; want 0 and\n%s", args, r.code, r.stdout, r.stderr, tt.stdout)
			}
			got := signaling.Requests("ListVideoRooms")[before:]
			want := &signalingv1.ListVideoRoomsRequest{ChatroomId: tt.chatroom}
			if len(got) != 1 || !proto.Equal(got[0], want) {
				t.Errorf("sbctl %q sent %v, want [%v]", args, got, want)
			}
		})
	}
	if n := signaling.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d ListVideoRooms calls without a deadline, want 0", n)
	}

	r := run(t, map[string]string{"SIGNALING_ADDR": emptyAddr}, "video", "list")
	if r.code != 0 || r.stdout != none || r.stderr != "" {
		t.Errorf("video list with no video rooms = exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, none)
	}
}

func TestVideoClose(t *testing.T) {
	signaling := servicetest.NewSignalingAdmin()
	for _, r := range videoRooms() {
		signaling.PutVideoRoom(r)
	}
	env := map[string]string{"SIGNALING_ADDR": signaling.Start(t)}

	r := run(t, env, "video", "close", "--id", "200")
	if want := "closed video room 200\n"; r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("video close --id 200 = exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, want)
	}
	var open []int64
	for _, v := range signaling.VideoRooms() {
		open = append(open, v.GetVideoRoomId())
	}
	if !slices.Equal(open, []int64{201, 202}) {
		t.Errorf("open video rooms after video close --id 200 = %v, want [201 202]", open)
	}

	for _, id := range []string{"200", "999"} {
		r = run(t, env, "video", "close", "--id", id)
		want := "sbctl: video close: video room " + id + " not found (video room not found)\n"
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("video close --id %s = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", id, r.code, r.stdout, r.stderr, want)
		}
	}
	checkRequests(t, signaling, "CloseVideoRoom",
		&signalingv1.CloseVideoRoomRequest{VideoRoomId: 200},
		&signalingv1.CloseVideoRoomRequest{VideoRoomId: 200},
		&signalingv1.CloseVideoRoomRequest{VideoRoomId: 999})
	if n := len(signaling.VideoRooms()); n != 2 {
		t.Errorf("%d open video rooms after refused closes, want 2", n)
	}
}

func TestVideoErrors(t *testing.T) {
	dead := deadAddr(t)
	chatAddr := servicetest.NewChatAdmin().Start(t)
	tests := []struct {
		name   string
		method string // the method failing with err
		err    error
		addr   string // empty: the fake's
		args   []string
		stderr string
	}{
		{"list internal", "ListVideoRooms", status.Error(codes.Internal, "internal error"), "",
			[]string{"video", "list"}, "sbctl: video list: signaling service error (Internal): internal error\n"},
		{"list unavailable from the service", "ListVideoRooms", status.Error(codes.Unavailable, "service shutting down"), "",
			[]string{"video", "list", "--chatroom", "7"}, "sbctl: signaling service unreachable at ADDR\n"},
		{"close unavailable from the service", "CloseVideoRoom", status.Error(codes.Unavailable, "service shutting down"), "",
			[]string{"video", "close", "--id", "200"}, "sbctl: signaling service unreachable at ADDR\n"},
		{"list with the service down", "", nil, dead,
			[]string{"video", "list"}, "sbctl: signaling service unreachable at " + dead + "\n"},
		{"close with the service down", "", nil, dead,
			[]string{"video", "close", "--id", "200"}, "sbctl: signaling service unreachable at " + dead + "\n"},
		{"chat service on the signaling address", "", nil, chatAddr,
			[]string{"video", "list"}, "sbctl: signaling service at " + chatAddr + " does not implement this call (wrong address or version?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signaling := servicetest.NewSignalingAdmin()
			for _, r := range videoRooms() {
				signaling.PutVideoRoom(r)
			}
			if tt.method != "" {
				signaling.FailWith(tt.method, tt.err)
			}
			addr := tt.addr
			if addr == "" {
				addr = signaling.Start(t)
			}
			want := strings.ReplaceAll(tt.stderr, "ADDR", addr)
			r := run(t, map[string]string{"SIGNALING_ADDR": addr}, tt.args...)
			if r.code != 1 || r.stderr != want || r.stdout != "" {
				t.Errorf("sbctl %.60q = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, want)
			}
			if tt.method != "" {
				if n := len(signaling.Requests(tt.method)); n != 1 {
					t.Errorf("sbctl %v: %s received %d requests, want 1", tt.args, tt.method, n)
				}
			}
			if n := len(signaling.VideoRooms()); n != 3 {
				t.Errorf("%d open video rooms after a failed call, want 3", n)
			}
		})
	}
}

func TestVideoFlagErrors(t *testing.T) {
	// Nothing listens here: a command that got past its flags would fail
	// with exit 1 instead of 2.
	env := map[string]string{"SIGNALING_ADDR": deadAddr(t)}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"video", "close"}, "sbctl: video close: --id is required\n"},
		{[]string{"video", "close", "--id", "0"}, "sbctl: video close: --id 0: want a positive id\n"},
		{[]string{"video", "close", "--id", "-200"}, "sbctl: video close: --id -200: want a positive id\n"},
		{[]string{"video", "close", "--id", "vr_b"}, "sbctl: video close: invalid value \"vr_b\" for flag -id: parse error (run 'sbctl video close -h')\n"},
		{[]string{"video", "close", "200"}, "sbctl: video close: unexpected argument \"200\"\n"},
		{[]string{"video", "close", "--id", "200", "202"}, "sbctl: video close: unexpected argument \"202\"\n"},
		{[]string{"video", "close", "--room", "200"}, "sbctl: video close: flag provided but not defined: -room (run 'sbctl video close -h')\n"},
		{[]string{"video", "close", "--id", "200", "--timeout", "0s"}, "sbctl: video close: --timeout must be positive\n"},
		{[]string{"video", "list", "--chatroom", "-7"}, "sbctl: video list: --chatroom -7: want a positive id, or 0 for none\n"},
		{[]string{"video", "list", "--chatroom", "lobby"}, "sbctl: video list: invalid value \"lobby\" for flag -chatroom: parse error (run 'sbctl video list -h')\n"},
		{[]string{"video", "list", "--id", "200"}, "sbctl: video list: flag provided but not defined: -id (run 'sbctl video list -h')\n"},
		{[]string{"video", "list", "7"}, "sbctl: video list: unexpected argument \"7\"\n"},
		{[]string{"video"}, "sbctl: unknown command \"video\" (run 'sbctl help')\n"},
		{[]string{"video", "open"}, "sbctl: unknown command \"video open\" (run 'sbctl help')\n"},
	}
	for _, tt := range tests {
		r := run(t, env, tt.args...)
		if r.code != 2 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("sbctl %q = exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}

func TestVideoHelp(t *testing.T) {
	for _, s := range []string{"video list [--chatroom ID]", "video close --id VIDEO_ROOM_ID", "--signaling-addr", "SIGNALING_ADDR"} {
		if !strings.Contains(Usage, s) {
			t.Errorf("Usage does not mention %q", s)
		}
	}
	for _, tt := range []struct {
		cmd   []string
		flags []string
	}{
		{[]string{"video", "list"}, []string{"-chatroom", "-signaling-addr", "-timeout"}},
		{[]string{"video", "close"}, []string{"-id", "-signaling-addr", "-timeout"}},
	} {
		args := append(tt.cmd, "-h")
		r := run(t, map[string]string{"SIGNALING_ADDR": "signaling.internal:9104"}, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: sbctl "+strings.Join(tt.cmd, " ")+" [flags]\n") {
			t.Errorf("sbctl %v = exit %d, stdout %q; want 0 and the command's usage", args, r.code, r.stdout)
		}
		for _, f := range tt.flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("sbctl %v does not list %s: %q", args, f, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "signaling.internal:9104") {
			t.Errorf("sbctl %v does not show SIGNALING_ADDR as the default of --signaling-addr: %q", args, r.stdout)
		}
	}
}
