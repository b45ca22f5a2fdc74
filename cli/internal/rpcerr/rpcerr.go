// Package rpcerr turns the errors of gRPC calls into one-line messages for
// people, in one place for every command of the module.
package rpcerr

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// Describe returns err as an *Error whose message is about subject (such as
// "room 7"). A nil err stays nil.
func Describe(err error, t Target, subject string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: codes.Unknown, Msg: err.Error()}
	}
	msg := st.Message()
	var out string
	switch st.Code() {
	case codes.AlreadyExists:
		out = subject + " already exists"
	case codes.NotFound:
		out = subject + " not found"
		if msg != "" {
			out += " (" + msg + ")"
		}
	case codes.Unavailable:
		out = fmt.Sprintf("%s service unreachable at %s", t.Service, t.Addr)
	case codes.DeadlineExceeded:
		out = fmt.Sprintf("%s service at %s did not answer within %v", t.Service, t.Addr, t.Timeout)
	case codes.Unimplemented:
		out = fmt.Sprintf("%s service at %s does not implement this call (wrong address or version?)", t.Service, t.Addr)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		out = "invalid request: " + msg
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
