package sbctl

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/servicetest"
)

// recorded is a fake that records its requests.
type recorded interface {
	Requests(method string) []proto.Message
	CallsWithoutDeadline() int
}

// checkRequests fails unless method received exactly want, in order, each
// with a deadline.
func checkRequests(t *testing.T, fake recorded, method string, want ...proto.Message) {
	t.Helper()
	got := fake.Requests(method)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = proto.Equal(got[i], want[i])
	}
	if !ok {
		t.Errorf("%s received %v, want %v", method, got, want)
	}
	if n := fake.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d calls reached the fake %T without a deadline, want 0", n, fake)
	}
}

// jsonLines decodes stdout as one JSON object per line.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q is not a JSON object: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// ids returns the "id" fields of JSON lines (int64s are strings in protojson).
func ids(lines []map[string]any) []string {
	var out []string
	for _, l := range lines {
		id, _ := l["id"].(string)
		out = append(out, id)
	}
	return out
}

func TestAdminCommands(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*servicetest.ChatAdmin)
		args    []string
		method  string
		request proto.Message
		stdout  string
		after   func(t *testing.T, chat *servicetest.ChatAdmin)
	}{
		{
			name:    "room delete",
			setup:   func(c *servicetest.ChatAdmin) { c.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"}) },
			args:    []string{"room", "delete", "--id", "7"},
			method:  "DeleteRoom",
			request: &chatv1.DeleteRoomRequest{Id: 7},
			stdout:  "deleted room 7\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if r := c.Room(7); r != nil {
					t.Errorf("room 7 after delete = %v, want none", r)
				}
			},
		},
		{
			name: "room ban",
			setup: func(c *servicetest.ChatAdmin) {
				c.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
				c.AddMember(7, 5)
				c.AddMember(7, 6)
			},
			args:    []string{"room", "ban", "--room", "7", "--user", "5"},
			method:  "BanMember",
			request: &chatv1.BanMemberRequest{RoomId: 7, UserId: 5},
			stdout:  "banned user 5 from room 7\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if got := c.Banned(7); !slices.Equal(got, []int64{5}) {
					t.Errorf("banned from room 7 = %v, want [5]", got)
				}
				if got := c.Members(7); !slices.Equal(got, []int64{6}) {
					t.Errorf("members of room 7 after the ban = %v, want [6]", got)
				}
			},
		},
		{
			name: "room unban",
			setup: func(c *servicetest.ChatAdmin) {
				c.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
				c.AddBan(7, 5)
			},
			args:    []string{"room", "unban", "--room", "7", "--user", "5"},
			method:  "UnbanMember",
			request: &chatv1.UnbanMemberRequest{RoomId: 7, UserId: 5},
			stdout:  "unbanned user 5 from room 7\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if got := c.Banned(7); len(got) != 0 {
					t.Errorf("banned from room 7 after unban = %v, want none", got)
				}
			},
		},
		{
			name: "room kick",
			setup: func(c *servicetest.ChatAdmin) {
				c.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
				c.AddMember(7, 5)
			},
			args:    []string{"room", "kick", "--room", "7", "--user", "5"},
			method:  "KickMember",
			request: &chatv1.KickMemberRequest{RoomId: 7, UserId: 5},
			stdout:  "kicked user 5 from room 7\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if got := c.Members(7); len(got) != 0 {
					t.Errorf("members of room 7 after the kick = %v, want none", got)
				}
			},
		},
		{
			name:    "room invite",
			setup:   func(c *servicetest.ChatAdmin) { c.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby", InviteOnly: true}) },
			args:    []string{"room", "invite", "--room", "7", "--user", "42"},
			method:  "InviteMember",
			request: &chatv1.InviteMemberRequest{RoomId: 7, UserId: 42},
			stdout:  "invited user 42 to room 7\n",
		},
		{
			name:    "block",
			args:    []string{"block", "--user", "5", "--blocked", "6"},
			method:  "BlockUser",
			request: &chatv1.BlockUserRequest{UserId: 5, BlockedUserId: 6},
			stdout:  "user 5 now blocks user 6\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if got := c.Blocks(5); !slices.Equal(got, []int64{6}) {
					t.Errorf("blocks of user 5 = %v, want [6]", got)
				}
			},
		},
		{
			name:    "unblock",
			setup:   func(c *servicetest.ChatAdmin) { c.AddBlock(5, 6) },
			args:    []string{"unblock", "--user", "5", "--blocked", "6"},
			method:  "UnblockUser",
			request: &chatv1.UnblockUserRequest{UserId: 5, BlockedUserId: 6},
			stdout:  "user 5 no longer blocks user 6\n",
			after: func(t *testing.T, c *servicetest.ChatAdmin) {
				if got := c.Blocks(5); len(got) != 0 {
					t.Errorf("blocks of user 5 after unblock = %v, want none", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat := servicetest.NewChatAdmin()
			if tt.setup != nil {
				tt.setup(chat)
			}
			r := run(t, map[string]string{"CHAT_ADDR": chat.Start(t)}, tt.args...)
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want exit 0, stdout %q, no stderr", tt.args, r.code, r.stdout, r.stderr, tt.stdout)
			}
			checkRequests(t, chat, tt.method, tt.request)
			if tt.after != nil {
				tt.after(t, chat)
			}
		})
	}
}

func TestRoomCreateRetention(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	r := run(t, map[string]string{"CHAT_ADDR": chat.Start(t)},
		"room", "create", "--id", "7", "--name", "Lobby", "--retention-messages", "500", "--retention-age", "720h")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("room create with retention = exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	checkRequests(t, chat, "CreateRoom", &chatv1.CreateRoomRequest{Id: 7, Name: "Lobby", RetentionMessages: 500, RetentionSeconds: 30 * 24 * 3600})
	lines := jsonLines(t, r.stdout)
	if len(lines) != 1 || lines[0]["retention_messages"] != "500" || lines[0]["retention_seconds"] != "2592000" {
		t.Errorf("room create printed %q, want one room with retention_messages \"500\" and retention_seconds \"2592000\"", r.stdout)
	}
}

func TestRoomPost(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
	r := run(t, map[string]string{"CHAT_ADDR": chat.Start(t)}, "room", "post", "--room", "7", "--content", "Maintenance at 22:00")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("room post = exit %d, stderr %q; want 0", r.code, r.stderr)
	}
	checkRequests(t, chat, "PostSystemMessage", &chatv1.PostSystemMessageRequest{RoomId: 7, Content: "Maintenance at 22:00"})
	lines := jsonLines(t, r.stdout)
	if len(lines) != 1 {
		t.Fatalf("room post printed %q, want one line", r.stdout)
	}
	m := lines[0]
	if m["id"] != "1" || m["room_id"] != "7" || m["user_id"] != "0" || m["content"] != "Maintenance at 22:00" ||
		m["message_type"] != "MESSAGE_TYPE_SYSTEM" || m["created_at"] == nil {
		t.Errorf("room post printed %v, want message 1 of room 7 from user 0, the content, MESSAGE_TYPE_SYSTEM and a time", m)
	}
}

func TestRoomList(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	for id := range int64(5) {
		chat.PutRoom(&chatv1.Room{Id: 10 * (id + 1), Name: fmt.Sprintf("room %d", id)})
	}
	env := map[string]string{"CHAT_ADDR": chat.Start(t)}
	tests := []struct {
		name     string
		args     []string
		ids      []string
		requests []proto.Message
		stderr   string
	}{
		{"first page", []string{}, []string{"10", "20", "30", "40", "50"},
			[]proto.Message{&chatv1.ListRoomsRequest{}}, ""},
		{"after and limit", []string{"--after", "10", "--limit", "2"}, []string{"20", "30"},
			[]proto.Message{&chatv1.ListRoomsRequest{AfterId: 10, Limit: 2}},
			"sbctl: room list: more rooms follow id 30 (use --after 30, or --all)\n"},
		{"last page", []string{"--after", "30", "--limit", "2"}, []string{"40", "50"},
			[]proto.Message{&chatv1.ListRoomsRequest{AfterId: 30, Limit: 2}}, ""},
		{"past the end", []string{"--after", "50"}, nil,
			[]proto.Message{&chatv1.ListRoomsRequest{AfterId: 50}}, ""},
		{"all in pages", []string{"--all", "--limit", "2"}, []string{"10", "20", "30", "40", "50"},
			[]proto.Message{&chatv1.ListRoomsRequest{Limit: 2}, &chatv1.ListRoomsRequest{AfterId: 20, Limit: 2}, &chatv1.ListRoomsRequest{AfterId: 40, Limit: 2}}, ""},
		{"after 0 is from the first", []string{"--after", "0", "--limit", "5"}, []string{"10", "20", "30", "40", "50"},
			[]proto.Message{&chatv1.ListRoomsRequest{Limit: 5}}, ""},
		{"all after", []string{"--all", "--after", "20", "--limit", "1000"}, []string{"30", "40", "50"},
			[]proto.Message{&chatv1.ListRoomsRequest{AfterId: 20, Limit: 1000}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(chat.Requests("ListRooms"))
			args := append([]string{"room", "list"}, tt.args...)
			r := run(t, env, args...)
			if r.code != 0 || r.stderr != tt.stderr {
				t.Fatalf("sbctl %v = exit %d, stderr %q; want 0, stderr %q", args, r.code, r.stderr, tt.stderr)
			}
			lines := jsonLines(t, r.stdout)
			if got := ids(lines); !slices.Equal(got, tt.ids) {
				t.Errorf("sbctl %v printed rooms %v, want %v", args, got, tt.ids)
			}
			for _, l := range lines {
				if l["name"] == nil || l["member_count"] == nil {
					t.Errorf("sbctl %v printed %v, want whole rooms", args, l)
				}
			}
			got := chat.Requests("ListRooms")[before:]
			ok := len(got) == len(tt.requests)
			for i := 0; ok && i < len(got); i++ {
				ok = proto.Equal(got[i], tt.requests[i])
			}
			if !ok {
				t.Errorf("sbctl %v sent %v, want %v", args, got, tt.requests)
			}
		})
	}
	if n := chat.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d calls without a deadline, want 0", n)
	}
}

// stuckLister claims more rooms on every page but sends none.
type stuckLister struct {
	chatv1.UnimplementedChatAdminServiceServer
}

func (stuckLister) ListRooms(context.Context, *chatv1.ListRoomsRequest) (*chatv1.ListRoomsResponse, error) {
	return &chatv1.ListRoomsResponse{HasMore: true}, nil
}

func TestRoomListStopsWithoutProgress(t *testing.T) {
	addr := servicetest.Serve(t, func(s *grpc.Server) { chatv1.RegisterChatAdminServiceServer(s, stuckLister{}) })
	r := run(t, map[string]string{"CHAT_ADDR": addr}, "room", "list", "--all", "--after", "3")
	if want := "sbctl: room list: chat service says more rooms follow id 3 but sent none\n"; r.code != 1 || r.stderr != want {
		t.Errorf("room list --all against a service without progress = exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
}

func TestMessages(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
	chat.PutRoom(&chatv1.Room{Id: 8, Name: "Empty"})
	for i := range 5 {
		chat.AddMessage(7, fmt.Sprintf("m%d", i+1))
	}
	env := map[string]string{"CHAT_ADDR": chat.Start(t)}
	tests := []struct {
		args    []string
		request *chatv1.ListRoomMessagesRequest
		ids     []string
		hasMore bool
	}{
		{[]string{"--room", "7"}, &chatv1.ListRoomMessagesRequest{RoomId: 7}, []string{"1", "2", "3", "4", "5"}, false},
		{[]string{"--room", "7", "--limit", "2"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, Limit: 2}, []string{"4", "5"}, true},
		{[]string{"--room", "7", "--after", "0", "--limit", "2"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, AfterId: proto.Int64(0), Limit: 2}, []string{"1", "2"}, true},
		{[]string{"--room", "7", "--after", "1", "--limit", "2"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, AfterId: proto.Int64(1), Limit: 2}, []string{"2", "3"}, true},
		{[]string{"--room", "7", "--after", "3"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, AfterId: proto.Int64(3)}, []string{"4", "5"}, false},
		{[]string{"--room", "7", "--before", "3"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, BeforeId: 3}, []string{"1", "2"}, false},
		{[]string{"--room", "7", "--before", "0", "--limit", "3"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, Limit: 3}, []string{"3", "4", "5"}, true},
		{[]string{"--room", "7", "--after", "1", "--before", "5", "--limit", "100"}, &chatv1.ListRoomMessagesRequest{RoomId: 7, AfterId: proto.Int64(1), BeforeId: 5, Limit: 100}, []string{"2", "3", "4"}, false},
		{[]string{"--room", "8"}, &chatv1.ListRoomMessagesRequest{RoomId: 8}, nil, false},
	}
	for _, tt := range tests {
		args := append([]string{"messages"}, tt.args...)
		r := run(t, env, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("sbctl %v = exit %d, stderr %q; want 0", args, r.code, r.stderr)
			continue
		}
		lines := jsonLines(t, r.stdout)
		last := lines[len(lines)-1]
		if len(last) != 1 || last["has_more"] != tt.hasMore {
			t.Errorf("sbctl %v last line = %v, want {\"has_more\":%t} alone", args, last, tt.hasMore)
		}
		if got := ids(lines[:len(lines)-1]); !slices.Equal(got, tt.ids) {
			t.Errorf("sbctl %v printed messages %v, want %v", args, got, tt.ids)
		}
		for _, m := range lines[:len(lines)-1] {
			if m["room_id"] != "7" || m["message_type"] != "MESSAGE_TYPE_SYSTEM" || m["content"] != "m"+m["id"].(string) {
				t.Errorf("sbctl %v printed %v, want a whole message of room 7", args, m)
			}
		}
		got := chat.Requests("ListRoomMessages")
		if len(got) == 0 || !proto.Equal(got[len(got)-1], tt.request) {
			t.Errorf("sbctl %v sent %v, want %v", args, got[len(got)-1:], tt.request)
		}
	}
	if n := chat.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d calls without a deadline, want 0", n)
	}
}

func TestAdminErrors(t *testing.T) {
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
	chat.AddMember(7, 6)
	chatAddr := chat.Start(t)
	env := map[string]string{"CHAT_ADDR": chatAddr}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"delete missing room", []string{"room", "delete", "--id", "9"}, "sbctl: room delete: room 9 not found\n"},
		{"ban in missing room", []string{"room", "ban", "--room", "9", "--user", "5"}, "sbctl: room ban: room 9 not found\n"},
		{"unban in missing room", []string{"room", "unban", "--room", "9", "--user", "5"}, "sbctl: room unban: room 9 not found\n"},
		{"kick in missing room", []string{"room", "kick", "--room", "9", "--user", "5"}, "sbctl: room kick: room 9 not found\n"},
		{"post to missing room", []string{"room", "post", "--room", "9", "--content", "hi"}, "sbctl: room post: room 9 not found\n"},
		{"history of missing room", []string{"messages", "--room", "9"}, "sbctl: messages: room 9 not found\n"},
		{"kick a non-member", []string{"room", "kick", "--room", "7", "--user", "5"}, "sbctl: room kick: user 5 is not a member of room 7\n"},
		{"block oneself", []string{"block", "--user", "5", "--blocked", "5"}, "sbctl: block: a user cannot block themselves\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, env, tt.args...)
			if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
				t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
			}
		})
	}
	if got := chat.Members(7); !slices.Equal(got, []int64{6}) {
		t.Errorf("members of room 7 after refused calls = %v, want [6]", got)
	}
}

func TestAdminConfiguredErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		err    error
		args   []string
		stderr string
	}{
		{"invalid argument", "ListRooms", status.Error(codes.InvalidArgument, "limit must be at most 1000"),
			[]string{"room", "list"}, "sbctl: room list: invalid request: limit must be at most 1000\n"},
		{"invalid message", "PostSystemMessage",
			servicetest.Refusal(codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE, "content matches a banned pattern"),
			[]string{"room", "post", "--room", "7", "--content", "spam"}, "sbctl: room post: invalid message: content matches a banned pattern\n"},
		{"not a member on ban", "BanMember",
			servicetest.Refusal(codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "not a member of the room"),
			[]string{"room", "ban", "--room", "7", "--user", "5"}, "sbctl: room ban: user 5 is not a member of room 7\n"},
		{"precondition without a reason", "UnbanMember", status.Error(codes.FailedPrecondition, "user is not banned"),
			[]string{"room", "unban", "--room", "7", "--user", "5"}, "sbctl: room unban: refused: user is not banned\n"},
		{"invalid unblock", "UnblockUser", status.Error(codes.InvalidArgument, "blocked_user_id must differ from user_id"),
			[]string{"unblock", "--user", "4", "--blocked", "4"}, "sbctl: unblock: a user cannot block themselves\n"},
		{"internal", "ListRoomMessages", status.Error(codes.Internal, "internal error"),
			[]string{"messages", "--room", "7"}, "sbctl: messages: chat service error (Internal): internal error\n"},
		{"not found on delete", "DeleteRoom", status.Error(codes.NotFound, "gone"),
			[]string{"room", "delete", "--id", "7"}, "sbctl: room delete: room 7 not found (gone)\n"},
		{"unavailable from the service", "BlockUser", status.Error(codes.Unavailable, "shutting down"),
			[]string{"block", "--user", "1", "--blocked", "2"}, "sbctl: chat service unreachable at ADDR\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat := servicetest.NewChatAdmin()
			chat.PutRoom(&chatv1.Room{Id: 7, Name: "Lobby"})
			chat.FailWith(tt.method, tt.err)
			addr := chat.Start(t)
			want := strings.ReplaceAll(tt.stderr, "ADDR", addr)
			r := run(t, map[string]string{"CHAT_ADDR": addr}, tt.args...)
			if r.code != 1 || r.stderr != want || r.stdout != "" {
				t.Errorf("sbctl %v with %s failing = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", tt.args, tt.method, r.code, r.stdout, r.stderr, want)
			}
			if n := len(chat.Requests(tt.method)); n != 1 {
				t.Errorf("sbctl %v: %s received %d requests, want 1", tt.args, tt.method, n)
			}
		})
	}
}

func TestAdminUnreachable(t *testing.T) {
	dead := deadAddr(t)
	for _, args := range [][]string{
		{"room", "list"},
		{"room", "list", "--all"},
		{"room", "delete", "--id", "7"},
		{"room", "ban", "--room", "7", "--user", "5"},
		{"room", "unban", "--room", "7", "--user", "5"},
		{"room", "kick", "--room", "7", "--user", "5"},
		{"room", "post", "--room", "7", "--content", "hi"},
		{"block", "--user", "5", "--blocked", "6"},
		{"unblock", "--user", "5", "--blocked", "6"},
		{"messages", "--room", "7"},
	} {
		r := run(t, map[string]string{"CHAT_ADDR": dead}, args...)
		if want := "sbctl: chat service unreachable at " + dead + "\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("sbctl %v against nothing = exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

func TestAdminFlagErrors(t *testing.T) {
	// Nothing listens here: a command that got past its flags would fail
	// with exit 1 instead of 2.
	env := map[string]string{"CHAT_ADDR": deadAddr(t)}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"room", "delete"}, "sbctl: room delete: --id is required\n"},
		{[]string{"room", "delete", "--id", "-7"}, "sbctl: room delete: --id -7: want a positive id\n"},
		{[]string{"room", "delete", "--id", "seven"}, "sbctl: room delete: invalid value \"seven\" for flag -id: parse error (run 'sbctl room delete -h')\n"},
		{[]string{"room", "ban", "--room", "7"}, "sbctl: room ban: --user is required\n"},
		{[]string{"room", "unban"}, "sbctl: room unban: --room, --user are required\n"},
		{[]string{"room", "kick", "--user", "5"}, "sbctl: room kick: --room is required\n"},
		{[]string{"room", "kick", "--room", "0", "--user", "5"}, "sbctl: room kick: --room 0: want a positive id\n"},
		{[]string{"room", "ban", "--room", "7", "--user", "-5"}, "sbctl: room ban: --user -5: want a positive id\n"},
		{[]string{"room", "post", "--room", "7"}, "sbctl: room post: --content is required\n"},
		{[]string{"room", "post"}, "sbctl: room post: --room, --content are required\n"},
		{[]string{"block", "--user", "5"}, "sbctl: block: --blocked is required\n"},
		{[]string{"unblock"}, "sbctl: unblock: --user, --blocked are required\n"},
		{[]string{"block", "--user", "5", "--blocked", "-1"}, "sbctl: block: --blocked -1: want a positive id\n"},
		{[]string{"messages"}, "sbctl: messages: --room is required\n"},
		{[]string{"messages", "--room", "7", "--before", "-1"}, "sbctl: messages: --before -1: want a positive id, or 0 for none\n"},
		{[]string{"messages", "--room", "7", "--after", "-2"}, "sbctl: messages: --after -2: want a message id, or 0 for the oldest\n"},
		{[]string{"messages", "--room", "7", "--limit", "101"}, "sbctl: messages: --limit 101: want between 1 and 100 (0: the service's default)\n"},
		{[]string{"messages", "--room", "7", "--limit", "-1"}, "sbctl: messages: --limit -1: want between 1 and 100 (0: the service's default)\n"},
		{[]string{"room", "list", "--limit", "1001"}, "sbctl: room list: --limit 1001: want between 1 and 1000 (0: the service's default)\n"},
		{[]string{"room", "list", "--after", "-3"}, "sbctl: room list: --after -3: want a positive id, or 0 for none\n"},
		{[]string{"room", "list", "extra"}, "sbctl: room list: unexpected argument \"extra\"\n"},
		{[]string{"room", "create", "--id", "7", "--name", "x", "--retention-messages", "-1"}, "sbctl: room create: --retention-messages -1: want 0 or more\n"},
		{[]string{"room", "create", "--id", "7", "--name", "x", "--retention-age", "-1h"}, "sbctl: room create: --retention-age -1h0m0s: want 0 or more whole seconds\n"},
		{[]string{"room", "create", "--id", "7", "--name", "x", "--retention-age", "1.5s"}, "sbctl: room create: --retention-age 1.5s: want 0 or more whole seconds\n"},
		{[]string{"room", "create", "--id", "7", "--name", "x", "--retention-age", "30d"}, "sbctl: room create: invalid value \"30d\" for flag -retention-age: parse error (run 'sbctl room create -h')\n"},
	}
	for _, tt := range tests {
		r := run(t, env, tt.args...)
		if r.code != 2 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("sbctl %v = exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}

func TestAdminCommandHelp(t *testing.T) {
	for _, tt := range []struct {
		cmd   []string
		flags []string
	}{
		{[]string{"room", "list"}, []string{"-after", "-limit", "-all"}},
		{[]string{"room", "delete"}, []string{"-id"}},
		{[]string{"room", "ban"}, []string{"-room", "-user"}},
		{[]string{"room", "unban"}, []string{"-room", "-user"}},
		{[]string{"room", "kick"}, []string{"-room", "-user"}},
		{[]string{"room", "post"}, []string{"-room", "-content"}},
		{[]string{"room", "create"}, []string{"-retention-messages", "-retention-age"}},
		{[]string{"block"}, []string{"-user", "-blocked"}},
		{[]string{"unblock"}, []string{"-user", "-blocked"}},
		{[]string{"messages"}, []string{"-room", "-before", "-after", "-limit"}},
	} {
		args := append(tt.cmd, "-h")
		r := run(t, nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: sbctl "+strings.Join(tt.cmd, " ")+" [flags]\n") {
			t.Errorf("sbctl %v = exit %d, stdout %q; want 0 and the command's usage", args, r.code, r.stdout)
		}
		for _, f := range tt.flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("sbctl %v does not list %s: %q", args, f, r.stdout)
			}
		}
	}
}
