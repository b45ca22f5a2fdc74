// Package sbctl implements the sbctl admin commands: rooms and invitations
// on the chat service, users and revocations on the auth service, and
// development tokens minted as the Laravel backend would.
package sbctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/rpcerr"
	"switchboard.dev/cli/internal/token"
	"switchboard.dev/platform/envflag"
)

// Defaults shared with the servers' own defaults.
const (
	DefaultAuthAddr = "127.0.0.1:9101"
	DefaultChatAddr = "127.0.0.1:9102"
	DefaultAlgo     = "HS256"
	DefaultTimeout  = 5 * time.Second
)

// Usage is the text of sbctl help.
const Usage = `Usage: sbctl <command> [flags]

Commands:
  room create --id ID --name NAME [--max-members N] [--invite-only]
                                   create a chat room (prints it as JSON)
  room get --id ID                 print a chat room as JSON
  room invite --room ID --user UID invite a user to an invite-only room
  user put --user ID --nickname N  create or replace a user directory entry
  token --user ID [--nickname N] [--ttl 1h] [--issuer URL]
                                   mint a dev token as the Laravel backend would
  token revoke --jti JTI [--expires-at RFC3339]
                                   revoke a token by its jti
  help                             print this help

Every command takes:
  --auth-addr   auth service address (env AUTH_ADDR, default 127.0.0.1:9101)
  --chat-addr   chat service address (env CHAT_ADDR, default 127.0.0.1:9102)
  --jwt-secret  HMAC secret for minting (env JWT_SECRET)
  --jwt-algo    HS256, HS384 or HS512 (env JWT_ALGO, default HS256)
  --timeout     deadline of each call (default 5s)

Run 'sbctl <command> -h' for the flags of one command.
`

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// env holds the settings every command takes.
type env struct {
	authAddr, chatAddr string
	secret, algo       string
	timeout            time.Duration
	stdout             io.Writer
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
	err := cmd.run(ctx, rest, getenv, stdout)
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

func lookup(args []string) (command, []string, bool) {
	sub := ""
	if len(args) > 1 {
		sub = args[1]
	}
	switch {
	case args[0] == "room" && sub == "create":
		return command{"room create", roomCreate}, args[2:], true
	case args[0] == "room" && sub == "get":
		return command{"room get", roomGet}, args[2:], true
	case args[0] == "room" && sub == "invite":
		return command{"room invite", roomInvite}, args[2:], true
	case args[0] == "user" && sub == "put":
		return command{"user put", userPut}, args[2:], true
	case args[0] == "token" && sub == "revoke":
		return command{"token revoke", tokenRevoke}, args[2:], true
	case args[0] == "token":
		return command{"token", tokenMint}, args[1:], true
	}
	return command{}, nil, false
}

func (c command) run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	set := envflag.New("sbctl "+c.name, io.Discard, getenv)
	e := &env{stdout: stdout}
	set.String(&e.authAddr, "auth-addr", "AUTH_ADDR", DefaultAuthAddr, "auth service address")
	set.String(&e.chatAddr, "chat-addr", "CHAT_ADDR", DefaultChatAddr, "chat service address")
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

func roomCreate(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		id         int64
		name       string
		maxMembers int
		inviteOnly bool
	)
	fs.Int64Var(&id, "id", 0, "room id (positive, the backend's id)")
	fs.StringVar(&name, "name", "", "room display name")
	fs.IntVar(&maxMembers, "max-members", 0, "member limit (0: the service's default)")
	fs.BoolVar(&inviteOnly, "invite-only", false, "admit invited users only")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"id", id > 0}, flagCheck{"name", name != ""}); err != nil {
			return err
		}
		if maxMembers < 0 || maxMembers > 1<<31-1 {
			return &usageError{"--max-members must be between 0 and 2147483647"}
		}
		resp, err := chatCall(ctx, e, fmt.Sprintf("room %d", id), func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.CreateRoomResponse, error) {
			return c.CreateRoom(ctx, &chatv1.CreateRoomRequest{Id: id, Name: name, MaxMembers: int32(maxMembers), InviteOnly: inviteOnly})
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
		if err := required(flagCheck{"id", id > 0}); err != nil {
			return err
		}
		resp, err := chatCall(ctx, e, fmt.Sprintf("room %d", id), func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.GetRoomResponse, error) {
			return c.GetRoom(ctx, &chatv1.GetRoomRequest{Id: id})
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, resp.GetRoom())
	}
}

func roomInvite(fs *flag.FlagSet) func(context.Context, *env) error {
	var room, user int64
	fs.Int64Var(&room, "room", 0, "room id")
	fs.Int64Var(&user, "user", 0, "user id to invite")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"room", room > 0}, flagCheck{"user", user > 0}); err != nil {
			return err
		}
		_, err := chatCall(ctx, e, fmt.Sprintf("room %d", room), func(ctx context.Context, c chatv1.ChatAdminServiceClient) (*chatv1.InviteMemberResponse, error) {
			return c.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: room, UserId: user})
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "invited user %d to room %d\n", user, room)
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
		if err := required(flagCheck{"user", id > 0}, flagCheck{"nickname", nickname != ""}); err != nil {
			return err
		}
		u := &authv1.User{UserId: id, Nickname: nickname}
		_, err := authCall(ctx, e, fmt.Sprintf("user %d", id), func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.PutUserResponse, error) {
			return c.PutUser(ctx, &authv1.PutUserRequest{User: u})
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, u)
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
		_, err := authCall(ctx, e, fmt.Sprintf("token %s", jti), func(ctx context.Context, c authv1.AuthAdminServiceClient) (*authv1.RevokeTokenResponse, error) {
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

// chatCall runs one ChatAdminService call with the deadline and describes its error.
func chatCall[R any](ctx context.Context, e *env, subject string, call func(context.Context, chatv1.ChatAdminServiceClient) (R, error)) (R, error) {
	return rpc(ctx, e, rpcerr.Target{Service: "chat", Addr: e.chatAddr, Timeout: e.timeout}, subject,
		func(ctx context.Context, cc *grpc.ClientConn) (R, error) {
			return call(ctx, chatv1.NewChatAdminServiceClient(cc))
		})
}

// authCall runs one AuthAdminService call with the deadline and describes its error.
func authCall[R any](ctx context.Context, e *env, subject string, call func(context.Context, authv1.AuthAdminServiceClient) (R, error)) (R, error) {
	return rpc(ctx, e, rpcerr.Target{Service: "auth", Addr: e.authAddr, Timeout: e.timeout}, subject,
		func(ctx context.Context, cc *grpc.ClientConn) (R, error) {
			return call(ctx, authv1.NewAuthAdminServiceClient(cc))
		})
}

func rpc[R any](ctx context.Context, e *env, t rpcerr.Target, subject string, call func(context.Context, *grpc.ClientConn) (R, error)) (R, error) {
	var zero R
	cc, err := grpc.NewClient(t.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return zero, fmt.Errorf("%s service address %q: %w", t.Service, t.Addr, err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	r, err := call(ctx, cc)
	if err != nil {
		return zero, rpcerr.Describe(err, t, subject)
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
