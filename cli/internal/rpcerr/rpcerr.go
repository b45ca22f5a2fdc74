// Package rpcerr turns the errors of gRPC calls into one-line messages for
// people, in one place for every command of the module.
package rpcerr

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// Target names where a call went, for the messages that blame the connection.
type Target struct {
	// Service is the service's short name ("chat", "auth").
	Service string
	// Addr is the address dialed.
	Addr string
	// Timeout is the call's deadline.
	Timeout time.Duration
}

// Subject is what a call is about: the ids its request names, so that a
// refusal can be told in the request's own terms ("user 5 is not a member
// of room 7").
type Subject struct {
	// Name names the subject when the ids say too little, such as
	// "token abc"; empty derives it from Room or User.
	Name string
	// Room is the room the request names, 0 when none.
	Room int64
	// User is the user the request acts on (the blocking user of a block),
	// 0 when none.
	User int64
	// Blocked is the blocked user of a block or unblock, 0 when none.
	Blocked int64
}

// String names the subject: Name, else the room, else the user.
func (s Subject) String() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Room != 0:
		return fmt.Sprintf("room %d", s.Room)
	case s.User != 0:
		return fmt.Sprintf("user %d", s.User)
	}
	return "the request's subject"
}

func (s Subject) room() string {
	if s.Room != 0 {
		return fmt.Sprintf("room %d", s.Room)
	}
	return "the room"
}

func (s Subject) user() string {
	if s.User != 0 {
		return fmt.Sprintf("user %d", s.User)
	}
	return "the user"
}

// Error is a described RPC failure.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Msg is the human description.
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Connection reports whether the failure is about reaching the service rather
// than about the request, so a caller can leave out the request's context.
func (e *Error) Connection() bool {
	return e.Code == codes.Unavailable || e.Code == codes.DeadlineExceeded || e.Code == codes.Unimplemented
}

// Describe returns err as an *Error whose message is about s. The
// google.rpc.ErrorInfo reason of a chat refusal decides the message when
// present; the status code decides otherwise. A nil err stays nil.
func Describe(err error, t Target, s Subject) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: codes.Unknown, Msg: err.Error()}
	}
	if out, ok := describeReason(st, s); ok {
		return &Error{Code: st.Code(), Msg: out}
	}
	msg := st.Message()
	var out string
	switch st.Code() {
	case codes.AlreadyExists:
		out = s.String() + " already exists"
	case codes.NotFound:
		out = s.String() + " not found"
		if msg != "" {
			out += " (" + msg + ")"
		}
	case codes.Unavailable:
		out = fmt.Sprintf("%s service unreachable at %s", t.Service, t.Addr)
	case codes.DeadlineExceeded:
		out = fmt.Sprintf("%s service at %s did not answer within %v", t.Service, t.Addr, t.Timeout)
	case codes.Unimplemented:
		out = fmt.Sprintf("%s service at %s does not implement this call (wrong address or version?)", t.Service, t.Addr)
	case codes.InvalidArgument, codes.OutOfRange:
		// A block of oneself is the one invalid block the command line
		// cannot rule out before asking, and it carries no reason.
		if s.Blocked != 0 && s.Blocked == s.User {
			out = "a user cannot block themselves"
		} else {
			out = "invalid request: " + msg
		}
	case codes.FailedPrecondition:
		out = "refused: " + msg
	case codes.PermissionDenied:
		out = "permission denied: " + msg
	case codes.Unauthenticated:
		out = "not authenticated: " + msg
	case codes.ResourceExhausted:
		out = "limit reached: " + msg
	case codes.Canceled:
		out = "canceled"
	default:
		out = fmt.Sprintf("%s service error (%s): %s", t.Service, st.Code(), msg)
	}
	return &Error{Code: st.Code(), Msg: out}
}

// chatDomain is the ErrorInfo domain of the chat service's refusals:
// other services have reasons of the same names (signaling's NOT_MEMBER).
const chatDomain = "chat.switchboard.dev"

// describeReason tells a refusal by the chat ErrorReason of its ErrorInfo;
// false when it has none this package knows.
func describeReason(st *status.Status, s Subject) (string, bool) {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != chatDomain {
			continue
		}
		v, ok := chatv1.ErrorReason_value[info.GetReason()]
		if !ok {
			continue
		}
		switch chatv1.ErrorReason(v) {
		case chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND:
			return s.room() + " not found", true
		case chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER:
			return s.user() + " is not a member of " + s.room(), true
		case chatv1.ErrorReason_ERROR_REASON_NOT_INVITED:
			return s.user() + " is not invited to invite-only " + s.room(), true
		case chatv1.ErrorReason_ERROR_REASON_ROOM_FULL:
			return s.room() + " is full", true
		case chatv1.ErrorReason_ERROR_REASON_ROOM_EXISTS:
			return s.room() + " already exists", true
		case chatv1.ErrorReason_ERROR_REASON_USER_BANNED:
			return s.user() + " is banned from " + s.room(), true
		case chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE:
			return "invalid message: " + st.Message(), true
		case chatv1.ErrorReason_ERROR_REASON_RATE_LIMITED:
			return "rate limited: " + st.Message(), true
		}
	}
	return "", false
}

// Code returns the gRPC code of a described or raw RPC error, codes.OK for nil.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}
