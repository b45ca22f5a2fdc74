// Package sbctl implements the sbctl admin commands: the operators' chat
// administration (rooms, invitations, bans, kicks, blocks, history and
// system messages), users, revocations and API keys on the auth service,
// presence and announcements on the presence service, the open video rooms
// of the signaling service, store backups, and development tokens minted as
// the Laravel backend would.
package sbctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/cli/internal/rpcerr"
	"switchboard.dev/cli/internal/token"
	"switchboard.dev/platform/envflag"
)

// Defaults shared with the servers' own defaults.
const (
	DefaultAuthAddr      = "127.0.0.1:9101"
	DefaultChatAddr      = "127.0.0.1:9102"
	DefaultPresenceAddr  = "127.0.0.1:9103"
	DefaultSignalingAddr = "127.0.0.1:9104"
	DefaultAlgo          = "HS256"
	DefaultTimeout       = 5 * time.Second
)

// Page limits of the chat contract, checked before asking.
const (
	MaxRoomPage    = 1000
	MaxMessagePage = 100
)

// MaxPresenceUsers is the presence contract's limit on the users of one
// GetPresence, checked before asking.
const MaxPresenceUsers = 1000

// Usage is the text of sbctl help.
const Usage = `Usage: sbctl <command> [flags]

Chat rooms:
  room create --id ID --name NAME [--max-members N] [--invite-only]
              [--retention-messages N] [--retention-age DURATION]
                                   create a chat room (prints it as JSON)
  room get --id ID                 print a chat room as JSON
  room list [--after ID] [--limit N] [--all]
                                   print rooms in id order, one JSON line each
  room delete --id ID              delete a room with its members and messages
  room invite --room ID --user UID invite a user to an invite-only room
  room ban --room ID --user UID    ban a user from a room (ends the membership)
  room unban --room ID --user UID  lift a ban
  room kick --room ID --user UID   end a membership; the user may join again
  room post --room ID --content TEXT
                                   post a system message (prints it as JSON)
  messages --room ID [--before ID] [--after ID] [--limit N]
                                   print a page of history, oldest first, one
                                   JSON line per message, then {"has_more":...};
                                   the newest page unless --after (0: the oldest)
  block --user A --blocked B       make user A stop receiving user B's messages
  unblock --user A --blocked B     lift a block

Users and tokens:
  user put --user ID --nickname N  create or replace a user directory entry
  user revoke --user ID            refuse every token of a user issued until now
  token --user ID [--nickname N] [--ttl 1h] [--issuer URL]
                                   mint a dev token as the Laravel backend would
  token revoke --jti JTI [--expires-at RFC3339]
                                   revoke a token by its jti

API keys (of the bridge's clients):
  apikey create --env ENV [--name N]
                                   make a key sk_<ENV>_...; ENV is 1 to 16 of
                                   A-Z and 0-9 (TEST01, LIVE). Prints a line
                                   about the key, then the key alone as the
                                   last line (shown this once: | tail -1)
  apikey list                      print a table of every key, oldest first:
                                   id, env, name, created, revoked (no secrets)
  apikey revoke --id ID            refuse a key from now on and end its sessions

Presence:
  presence get --user ID[,ID...]   print users' presence, one JSON line each,
                                   in the order asked (at most 1000 users)
  announce --title T --message M [--type TYPE] [--priority P] [--users ID,ID...]
                                   send a SERVER_ANNOUNCEMENT to every connected
                                   session, or to the sessions of the users listed

Video rooms (of the signaling service):
  video list [--chatroom ID]       print a table of the open video rooms, oldest
                                   first: id, chat room, name, host, participants
                                   (count/max), created, the participants' user ids
  video close --id VIDEO_ROOM_ID   close a video room at once (its participants
                                   and the chat room's members are told)

Operations:
  backup --service auth|chat|presence|signaling --out FILE [--max-time 1h]
                                   copy the service's store while it runs (a
                                   bbolt file; restore: stop the service, put
                                   it in place of the service's file)

  help                             print this help

Every command takes:
  --auth-addr      auth service address (env AUTH_ADDR, default 127.0.0.1:9101)
  --chat-addr      chat service address (env CHAT_ADDR, default 127.0.0.1:9102)
  --presence-addr  presence service address (env PRESENCE_ADDR, default 127.0.0.1:9103)
  --signaling-addr signaling service address (env SIGNALING_ADDR, default 127.0.0.1:9104)
  --jwt-secret     HMAC secret for minting (env JWT_SECRET)
  --jwt-algo       HS256, HS384 or HS512 (env JWT_ALGO, default HS256)
  --timeout        deadline of each call (default 5s)

Run 'sbctl <command> -h' for the flags of one command.
`

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// env holds the settings every command takes.
type env struct {
	authAddr, chatAddr string
	presenceAddr       string
	signalingAddr      string
	secret, algo       string
	timeout            time.Duration
	stdout, stderr     io.Writer
}

// command is one sbctl command: its name, its flags and its action.
type command struct {
	name  string
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
}

// Run runs sbctl with args (without the program name) and returns the exit
// status: 0 on success, 1 on a failed call, 2 on a bad command line. Results
// go to stdout; errors go to stderr as one line.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, Usage)
		return 0
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(stderr, "sbctl: unknown command %q (run 'sbctl help')\n", strings.Join(args[:min(2, len(args))], " "))
		return 2
	}
	err := cmd.run(ctx, rest, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		return 0
	}
	var re *rpcerr.Error
	if errors.As(err, &re) && re.Connection() {
		fmt.Fprintf(stderr, "sbctl: %s\n", err)
	} else {
		fmt.Fprintf(stderr, "sbctl: %s: %s\n", cmd.name, err)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// commands lists every command; lookup prefers two-word names.
func commands() []command {
	return []command{
		{"room create", roomCreate},
		{"room get", roomGet},
		{"room list", roomList},
		{"room delete", roomDelete},
		{"room invite", memberCommand("to invite", "invited user %d to room %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, room, user int64) error {
				_, err := c.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: room, UserId: user})
				return err
			})},
		{"room ban", memberCommand("to ban", "banned user %d from room %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, room, user int64) error {
				_, err := c.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: room, UserId: user})
				return err
			})},
		{"room unban", memberCommand("to unban", "unbanned user %d from room %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, room, user int64) error {
				_, err := c.UnbanMember(ctx, &chatv1.UnbanMemberRequest{RoomId: room, UserId: user})
				return err
			})},
		{"room kick", memberCommand("to kick", "kicked user %d from room %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, room, user int64) error {
				_, err := c.KickMember(ctx, &chatv1.KickMemberRequest{RoomId: room, UserId: user})
				return err
			})},
		{"room post", roomPost},
		{"messages", messages},
		{"block", blockCommand("user %d now blocks user %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, user, blocked int64) error {
				_, err := c.BlockUser(ctx, &chatv1.BlockUserRequest{UserId: user, BlockedUserId: blocked})
				return err
			})},
		{"unblock", blockCommand("user %d no longer blocks user %d",
			func(ctx context.Context, c chatv1.ChatAdminServiceClient, user, blocked int64) error {
				_, err := c.UnblockUser(ctx, &chatv1.UnblockUserRequest{UserId: user, BlockedUserId: blocked})
				return err
			})},
		{"user put", userPut},
		{"user revoke", userRevoke},
		{"token revoke", tokenRevoke},
		{"token", tokenMint},
		{"apikey create", apiKeyCreate},
		{"apikey list", apiKeyList},
		{"apikey revoke", apiKeyRevoke},
		{"presence get", presenceGet},
		{"announce", announce},
		{"video list", videoList},
		{"video close", videoClose},
		{"backup", backupCommand},
	}
}

func lookup(args []string) (command, []string, bool) {
	cmds := commands()
	if len(args) > 1 {
		for _, c := range cmds {
			if c.name == args[0]+" "+args[1] {
				return c, args[2:], true
			}
		}
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

func (c command) run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	set := envflag.New("sbctl "+c.name, io.Discard, getenv)
	e := &env{stdout: stdout, stderr: stderr}
	set.String(&e.authAddr, "auth-addr", "AUTH_ADDR", DefaultAuthAddr, "auth service address")
	set.String(&e.chatAddr, "chat-addr", "CHAT_ADDR", DefaultChatAddr, "chat service address")
	set.String(&e.presenceAddr, "presence-addr", "PRESENCE_ADDR", DefaultPresenceAddr, "presence service address")
	set.String(&e.signalingAddr, "signaling-addr", "SIGNALING_ADDR", DefaultSignalingAddr, "signaling service address")
	set.String(&e.algo, "jwt-algo", "JWT_ALGO", DefaultAlgo, "token algorithm: HS256, HS384 or HS512")
	set.Duration(&e.timeout, "timeout", "", DefaultTimeout, "deadline of each call")
	fs := set.FlagSet()
	// The secret's default is not shown in -h output: it is read after parsing.
	fs.StringVar(&e.secret, "jwt-secret", "", "HMAC secret for minting (env JWT_SECRET)")
	action := c.flags(fs)
	if err := set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: sbctl %s [flags]\n", c.name)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return &usageError{err.Error() + " (run 'sbctl " + c.name + " -h')"}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if e.secret == "" {
		e.secret = getenv("JWT_SECRET")
	}
	if e.timeout <= 0 {
		return &usageError{"--timeout must be positive"}
	}
	return action(ctx, e)
}

// flagCheck pairs a required flag's name with whether it was given.
type flagCheck struct {
	name string
	ok   bool
}

// required reports every missing required flag in one line.
func required(checks ...flagCheck) error {
	var missing []string
	for _, c := range checks {
		if !c.ok {
			missing = append(missing, "--"+c.name)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return &usageError{missing[0] + " is required"}
	}
	return &usageError{strings.Join(missing, ", ") + " are required"}
}

// validIDs checks the id flags' values: one the command needs must be
// positive when given (required reports it missing), an optional one (0:
// none) must not be negative.
func validIDs(fs *flag.FlagSet, ids ...idFlag) error {
	for _, id := range ids {
		switch v := *id.v; {
		case id.needed && v <= 0 && given(fs, id.name):
			return &usageError{fmt.Sprintf("--%s %d: want a positive id", id.name, v)}
		case !id.needed && v < 0:
			return &usageError{fmt.Sprintf("--%s %d: want a positive id, or 0 for none", id.name, v)}
		}
	}
	return nil
}

// given returns whether fs's flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// idFlag is an int64 id flag: its name, where it is parsed to, and whether
// the command needs it.
type idFlag struct {
	name   string
	v      *int64
	needed bool
}

// checkLimit checks a page limit flag against the contract's maximum.
func checkLimit(limit, maxLimit int) error {
	if limit < 0 || limit > maxLimit {
		return &usageError{fmt.Sprintf("--limit %d: want between 1 and %d (0: the service's default)", limit, maxLimit)}
	}
	return nil
}

func roomCreate(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		id           int64
		name         string
		maxMembers   int
		inviteOnly   bool
		retainCount  int64
		retainMaxAge time.Duration
	)
	fs.Int64Var(&id, "id", 0, "room id (positive, the backend's id)")
	fs.StringVar(&name, "name", "", "room display name")
	fs.IntVar(&maxMembers, "max-members", 0, "member limit (0: the service's default)")
	fs.BoolVar(&inviteOnly, "invite-only", false, "admit invited users only")
	fs.Int64Var(&retainCount, "retention-messages", 0, "keep at most this many messages, the newest (0: the service's default)")
	fs.DurationVar(&retainMaxAge, "retention-age", 0, "keep messages at most this old, in whole seconds such as 720h (0: the service's default)")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"id", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"id", id > 0}, flagCheck{"name", name != ""}); err != nil {
			return err
		}
		if maxMembers < 0 || maxMembers > 1<<31-1 {
			return &usageError{"--max-members must be between 0 and 2147483647"}
		}
		if retainCount < 0 {
			return &usageError{fmt.Sprintf("--retention-messages %d: want 0 or more", retainCount)}
		}
		if retainMaxAge < 0 || retainMaxAge%time.Second != 0 {
			return &usageError{fmt.Sprintf("--retention-age %v: want 0 or more whole seconds", retainMaxAge)}
		}
		req := &chatv1.CreateRoomRequest{
			Id:                id,
			Name:              name,
			MaxMembers:        int32(maxMembers),
			InviteOnly:        inviteOnly,
			RetentionMessages: retainCount,
			RetentionSeconds:  int64(retainMaxAge / time.Second),
		}
		resp, err := chatCall(ctx, e, rpcerr.Subject{Room: id}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.CreateRoomResponse, error) {
			return c.CreateRoom(ctx, req)
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, resp.GetRoom())
	}
}

func roomGet(fs *flag.FlagSet) func(context.Context, *env) error {
	var id int64
	fs.Int64Var(&id, "id", 0, "room id")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"id", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"id", id > 0}); err != nil {
			return err
		}
		resp, err := chatCall(ctx, e, rpcerr.Subject{Room: id}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.GetRoomResponse, error) {
			return c.GetRoom(ctx, &chatv1.GetRoomRequest{Id: id})
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, resp.GetRoom())
	}
}

func roomList(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		after int64
		limit int
		all   bool
	)
	fs.Int64Var(&after, "after", 0, "start after this room id (0: from the first)")
	fs.IntVar(&limit, "limit", 0, fmt.Sprintf("rooms per page, at most %d (0: the service's default, 100)", MaxRoomPage))
	fs.BoolVar(&all, "all", false, "page through every room")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"after", &after, false}); err != nil {
			return err
		}
		if err := checkLimit(limit, MaxRoomPage); err != nil {
			return err
		}
		t := e.chatTarget()
		cc, err := dial(t)
		if err != nil {
			return err
		}
		defer cc.Close()
		client := chatv1.NewChatAdminServiceClient(cc)
		// Each page moves after forward, so the loop ends unless the service
		// claims more rooms without giving any.
		for {
			resp, err := call(ctx, t, rpcerr.Subject{Name: "rooms"}, func(ctx context.Context) (*chatv1.ListRoomsResponse, error) {
				return client.ListRooms(ctx, &chatv1.ListRoomsRequest{AfterId: after, Limit: int32(limit)})
			})
			if err != nil {
				return err
			}
			for _, r := range resp.GetRooms() {
				if err := printJSON(e.stdout, r); err != nil {
					return err
				}
			}
			if !resp.GetHasMore() {
				return nil
			}
			rooms := resp.GetRooms()
			if len(rooms) == 0 || rooms[len(rooms)-1].GetId() <= after {
				return fmt.Errorf("chat service says more rooms follow id %d but sent none", after)
			}
			after = rooms[len(rooms)-1].GetId()
			if !all {
				fmt.Fprintf(e.stderr, "sbctl: room list: more rooms follow id %d (use --after %d, or --all)\n", after, after)
				return nil
			}
		}
	}
}

func roomDelete(fs *flag.FlagSet) func(context.Context, *env) error {
	var id int64
	fs.Int64Var(&id, "id", 0, "room id")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"id", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"id", id > 0}); err != nil {
			return err
		}
		_, err := chatCall(ctx, e, rpcerr.Subject{Room: id}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.DeleteRoomResponse, error) {
			return c.DeleteRoom(ctx, &chatv1.DeleteRoomRequest{Id: id})
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "deleted room %d\n", id)
		return err
	}
}

// memberCommand builds a command acting on one user of one room; done is
// the confirmation's format, given the user and the room.
func memberCommand(what, done string, act func(ctx context.Context, c chatv1.ChatAdminServiceClient, room, user int64) error) func(*flag.FlagSet) func(context.Context, *env) error {
	return func(fs *flag.FlagSet) func(context.Context, *env) error {
		var room, user int64
		fs.Int64Var(&room, "room", 0, "room id")
		fs.Int64Var(&user, "user", 0, "user id "+what)
		return func(ctx context.Context, e *env) error {
			if err := validIDs(fs, idFlag{"room", &room, true}, idFlag{"user", &user, true}); err != nil {
				return err
			}
			if err := required(flagCheck{"room", room > 0}, flagCheck{"user", user > 0}); err != nil {
				return err
			}
			_, err := chatCall(ctx, e, rpcerr.Subject{Room: room, User: user}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (struct{}, error) {
				return struct{}{}, act(ctx, c, room, user)
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, done+"\n", user, room)
			return err
		}
	}
}

// blockCommand builds block or unblock; done is the confirmation's format,
// given the blocking and the blocked user.
func blockCommand(done string, act func(ctx context.Context, c chatv1.ChatAdminServiceClient, user, blocked int64) error) func(*flag.FlagSet) func(context.Context, *env) error {
	return func(fs *flag.FlagSet) func(context.Context, *env) error {
		var user, blocked int64
		fs.Int64Var(&user, "user", 0, "the blocking user's id")
		fs.Int64Var(&blocked, "blocked", 0, "the blocked user's id")
		return func(ctx context.Context, e *env) error {
			if err := validIDs(fs, idFlag{"user", &user, true}, idFlag{"blocked", &blocked, true}); err != nil {
				return err
			}
			if err := required(flagCheck{"user", user > 0}, flagCheck{"blocked", blocked > 0}); err != nil {
				return err
			}
			_, err := chatCall(ctx, e, rpcerr.Subject{User: user, Blocked: blocked}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (struct{}, error) {
				return struct{}{}, act(ctx, c, user, blocked)
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, done+"\n", user, blocked)
			return err
		}
	}
}

func roomPost(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		room    int64
		content string
	)
	fs.Int64Var(&room, "room", 0, "room id")
	fs.StringVar(&content, "content", "", "message text")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"room", &room, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"room", room > 0}, flagCheck{"content", content != ""}); err != nil {
			return err
		}
		resp, err := chatCall(ctx, e, rpcerr.Subject{Room: room}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.PostSystemMessageResponse, error) {
			return c.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: room, Content: content})
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, resp.GetMessage())
	}
}

func messages(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		room, before, after int64
		limit               int
	)
	fs.Int64Var(&room, "room", 0, "room id")
	fs.Int64Var(&before, "before", 0, "the newest messages with ids below this one")
	fs.Int64Var(&after, "after", 0, "the oldest messages with ids above this one (0: from the oldest kept)")
	fs.IntVar(&limit, "limit", 0, fmt.Sprintf("messages per page, at most %d (0: the service's default, 100)", MaxMessagePage))
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"room", &room, true}, idFlag{"before", &before, false}); err != nil {
			return err
		}
		if after < 0 {
			return &usageError{fmt.Sprintf("--after %d: want a message id, or 0 for the oldest", after)}
		}
		if err := required(flagCheck{"room", room > 0}); err != nil {
			return err
		}
		if err := checkLimit(limit, MaxMessagePage); err != nil {
			return err
		}
		req := &chatv1.ListRoomMessagesRequest{RoomId: room, BeforeId: before, Limit: int32(limit)}
		// Unset reads the newest; 0 reads from the oldest.
		if given(fs, "after") {
			req.AfterId = proto.Int64(after)
		}
		resp, err := chatCall(ctx, e, rpcerr.Subject{Room: room}, func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.ListRoomMessagesResponse, error) {
			return c.ListRoomMessages(ctx, req)
		})
		if err != nil {
			return err
		}
		for _, m := range resp.GetMessages() {
			if err := printJSON(e.stdout, m); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintf(e.stdout, "{\"has_more\":%t}\n", resp.GetHasMore())
		return err
	}
}

func userPut(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		id       int64
		nickname string
	)
	fs.Int64Var(&id, "user", 0, "user id")
	fs.StringVar(&nickname, "nickname", "", "nickname shown to other users")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"user", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"user", id > 0}, flagCheck{"nickname", nickname != ""}); err != nil {
			return err
		}
		u := &authv1.User{UserId: id, Nickname: nickname}
		_, err := authCall(ctx, e, rpcerr.Subject{User: id}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.PutUserResponse, error) {
			return c.PutUser(ctx, &authv1.PutUserRequest{User: u})
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, u)
	}
}

func userRevoke(fs *flag.FlagSet) func(context.Context, *env) error {
	var id int64
	fs.Int64Var(&id, "user", 0, "user id whose tokens issued until now are refused")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"user", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"user", id > 0}); err != nil {
			return err
		}
		resp, err := authCall(ctx, e, rpcerr.Subject{User: id}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.RevokeUserResponse, error) {
			return c.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: id})
		})
		if err != nil {
			return err
		}
		if resp.GetIssuedBefore() == nil {
			_, err = fmt.Fprintf(e.stdout, "revoked the tokens of user %d\n", id)
			return err
		}
		before := resp.GetIssuedBefore().AsTime().UTC().Format(time.RFC3339Nano)
		_, err = fmt.Fprintf(e.stdout, "revoked the tokens of user %d issued before %s\n", id, before)
		return err
	}
}

func tokenRevoke(fs *flag.FlagSet) func(context.Context, *env) error {
	var jti, expiresAt string
	fs.StringVar(&jti, "jti", "", "the token's jti claim")
	fs.StringVar(&expiresAt, "expires-at", "", "the token's expiry (RFC 3339); unset keeps the revocation for the longest lifetime")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"jti", jti != ""}); err != nil {
			return err
		}
		req := &authv1.RevokeTokenRequest{TokenId: jti}
		if expiresAt != "" {
			t, err := time.Parse(time.RFC3339, expiresAt)
			if err != nil {
				return &usageError{fmt.Sprintf("--expires-at %q: want RFC 3339 such as 2026-01-01T12:00:00Z", expiresAt)}
			}
			req.ExpiresAt = timestamppb.New(t)
		}
		_, err := authCall(ctx, e, rpcerr.Subject{Name: "token " + jti}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.RevokeTokenResponse, error) {
			return c.RevokeToken(ctx, req)
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "revoked token %s\n", jti)
		return err
	}
}

func tokenMint(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		id       int64
		nickname string
		ttl      time.Duration
		issuer   string
	)
	fs.Int64Var(&id, "user", 0, "user id (the sub claim)")
	fs.StringVar(&nickname, "nickname", "", "nickname claim (optional)")
	fs.DurationVar(&ttl, "ttl", token.DefaultTTL, "lifetime")
	fs.StringVar(&issuer, "issuer", token.DefaultIssuer, "iss claim")
	return func(_ context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"user", &id, true}); err != nil {
			return err
		}
		if err := required(flagCheck{"user", id > 0}); err != nil {
			return err
		}
		if ttl <= 0 {
			return &usageError{"--ttl must be positive"}
		}
		m, err := token.NewMinter(e.secret, e.algo)
		if err != nil {
			return err
		}
		tok, err := m.Mint(token.Claims{UserID: id, Nickname: nickname, TTL: ttl, Issuer: issuer})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, tok)
		return err
	}
}

func apiKeyCreate(fs *flag.FlagSet) func(context.Context, *env) error {
	var envName, name string
	fs.StringVar(&envName, "env", "", "environment, 1 to 16 characters of A-Z and 0-9 (such as TEST01 or LIVE)")
	fs.StringVar(&name, "name", "", "label, at most 100 characters (optional)")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"env", envName != ""}); err != nil {
			return err
		}
		resp, err := authCall(ctx, e, rpcerr.Subject{Name: "the API key"}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.CreateAPIKeyResponse, error) {
			return c.CreateAPIKey(ctx, &authv1.CreateAPIKeyRequest{Env: envName, Name: name})
		})
		if err != nil {
			return err
		}
		k := resp.GetApiKey()
		desc := "created API key " + k.GetId() + " (env " + k.GetEnv()
		if k.GetName() != "" {
			desc += ", name " + strconv.Quote(k.GetName())
		}
		// The key goes alone on the last line, for scripts: | tail -1.
		_, err = fmt.Fprintf(e.stdout, "%s); the key below is shown this once:\n%s\n", desc, resp.GetKey())
		return err
	}
}

func apiKeyList(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		resp, err := authCall(ctx, e, rpcerr.Subject{Name: "the API keys"}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.ListAPIKeysResponse, error) {
			return c.ListAPIKeys(ctx, &authv1.ListAPIKeysRequest{})
		})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tENV\tNAME\tCREATED\tREVOKED")
		for _, k := range resp.GetApiKeys() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.GetId(), k.GetEnv(), orDash(k.GetName()), timeOrDash(k.GetCreatedAt()), timeOrDash(k.GetRevokedAt()))
		}
		return tw.Flush()
	}
}

// orDash returns s, or "-" when it is empty, so that a table has no blank
// cells.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timeOrDash formats t in RFC 3339 UTC to the second, "-" when unset.
func timeOrDash(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func apiKeyRevoke(fs *flag.FlagSet) func(context.Context, *env) error {
	var id string
	fs.StringVar(&id, "id", "", "the key's id (key_..., from apikey list)")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"id", id != ""}); err != nil {
			return err
		}
		_, err := authCall(ctx, e, rpcerr.Subject{Name: "API key " + id}, func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.RevokeAPIKeyResponse, error) {
			return c.RevokeAPIKey(ctx, &authv1.RevokeAPIKeyRequest{Id: id})
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "revoked API key %s\n", id)
		return err
	}
}

func presenceGet(fs *flag.FlagSet) func(context.Context, *env) error {
	var users string
	fs.StringVar(&users, "user", "", fmt.Sprintf("user ids separated by commas, at most %d", MaxPresenceUsers))
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"user", given(fs, "user")}); err != nil {
			return err
		}
		ids, err := parseUserIDs("user", users)
		if err != nil {
			return err
		}
		if len(ids) > MaxPresenceUsers {
			return &usageError{fmt.Sprintf("--user: %d users, want at most %d", len(ids), MaxPresenceUsers)}
		}
		s := rpcerr.Subject{User: ids[0]}
		if len(ids) > 1 {
			s = rpcerr.Subject{Name: fmt.Sprintf("users %d to %d (%d users)", ids[0], ids[len(ids)-1], len(ids))}
		}
		resp, err := presenceCall(ctx, e, s, func(ctx context.Context, c presenceClients) (*presencev1.GetPresenceResponse, error) {
			return c.presence.GetPresence(ctx, &presencev1.GetPresenceRequest{UserIds: ids})
		})
		if err != nil {
			return err
		}
		for _, u := range resp.GetUsers() {
			if err := printJSON(e.stdout, u); err != nil {
				return err
			}
		}
		return nil
	}
}

func announce(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		a     presencev1.Announcement
		users string
	)
	fs.StringVar(&a.Title, "title", "", "headline")
	fs.StringVar(&a.Message, "message", "", "body")
	fs.StringVar(&a.Type, "type", "", "kind, such as info or maintenance (optional)")
	fs.StringVar(&a.Priority, "priority", "", "urgency, such as low, normal or high (optional)")
	fs.StringVar(&users, "users", "", "user ids separated by commas (unset: every connected session)")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"title", a.Title != ""}, flagCheck{"message", a.Message != ""}); err != nil {
			return err
		}
		req := &presencev1.AnnounceRequest{Announcement: &a}
		// An empty --users, such as an unset shell variable, must not
		// widen the announcement to everyone.
		if given(fs, "users") {
			ids, err := parseUserIDs("users", users)
			if err != nil {
				return err
			}
			req.UserIds = ids
		}
		_, err := presenceCall(ctx, e, rpcerr.Subject{Name: "the announcement"}, func(ctx context.Context, c presenceClients) (*presencev1.AnnounceResponse, error) {
			return c.admin.Announce(ctx, req)
		})
		if err != nil {
			return err
		}
		switch n := len(req.UserIds); n {
		case 0:
			_, err = fmt.Fprintln(e.stdout, "announced to everyone")
		case 1:
			_, err = fmt.Fprintln(e.stdout, "announced to 1 user")
		default:
			_, err = fmt.Fprintf(e.stdout, "announced to %d users\n", n)
		}
		return err
	}
}

// parseUserIDs parses the value of flag name, positive user ids separated
// by commas, dropping repeats and keeping the first order.
func parseUserIDs(name, v string) ([]int64, error) {
	bad := &usageError{fmt.Sprintf("--%s %q: want positive user ids separated by commas", name, v)}
	if strings.TrimSpace(v) == "" {
		return nil, bad
	}
	var ids []int64
	seen := map[int64]bool{}
	for part := range strings.SplitSeq(v, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || id <= 0 {
			return nil, bad
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// chatTarget is the chat service as this command reaches it.
func (e *env) chatTarget() rpcerr.Target {
	return rpcerr.Target{Service: "chat", Addr: e.chatAddr, Timeout: e.timeout}
}

// chatCall runs one ChatAdminService call with the deadline and describes its error.
func chatCall[R any](ctx context.Context, e *env, s rpcerr.Subject, f func(context.Context, chatv1.ChatAdminServiceClient) (R, error)) (R, error) {
	t := e.chatTarget()
	var zero R
	cc, err := dial(t)
	if err != nil {
		return zero, err
	}
	defer cc.Close()
	client := chatv1.NewChatAdminServiceClient(cc)
	return call(ctx, t, s, func(ctx context.Context) (R, error) { return f(ctx, client) })
}

// authCall runs one AuthAdminService call with the deadline and describes its error.
func authCall[R any](ctx context.Context, e *env, s rpcerr.Subject, f func(context.Context, authv1.AuthAdminServiceClient) (R, error)) (R, error) {
	t := rpcerr.Target{Service: "auth", Addr: e.authAddr, Timeout: e.timeout}
	var zero R
	cc, err := dial(t)
	if err != nil {
		return zero, err
	}
	defer cc.Close()
	client := authv1.NewAuthAdminServiceClient(cc)
	return call(ctx, t, s, func(ctx context.Context) (R, error) { return f(ctx, client) })
}

// presenceClients are the presence service's two APIs on one connection.
type presenceClients struct {
	presence presencev1.PresenceServiceClient
	admin    presencev1.PresenceAdminServiceClient
}

// presenceCall runs one presence service call with the deadline and describes its error.
func presenceCall[R any](ctx context.Context, e *env, s rpcerr.Subject, f func(context.Context, presenceClients) (R, error)) (R, error) {
	t := rpcerr.Target{Service: "presence", Addr: e.presenceAddr, Timeout: e.timeout}
	var zero R
	cc, err := dial(t)
	if err != nil {
		return zero, err
	}
	defer cc.Close()
	clients := presenceClients{
		presence: presencev1.NewPresenceServiceClient(cc),
		admin:    presencev1.NewPresenceAdminServiceClient(cc),
	}
	return call(ctx, t, s, func(ctx context.Context) (R, error) { return f(ctx, clients) })
}

// dial makes a client for t; it connects on the first call.
func dial(t rpcerr.Target) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(t.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%s service address %q: %w", t.Service, t.Addr, err)
	}
	return cc, nil
}

// call runs f under t's deadline and describes its error in terms of s.
func call[R any](ctx context.Context, t rpcerr.Target, s rpcerr.Subject, f func(context.Context) (R, error)) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	r, err := f(ctx)
	if err != nil {
		var zero R
		return zero, rpcerr.Describe(err, t, s)
	}
	return r, nil
}

// printJSON writes m as one line of JSON with the proto field names.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	// protojson varies its spacing on purpose; compact it for stable output.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}
