package rpcerr

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// refusal is a status with an ErrorInfo, as the chat service refuses.
func refusal(t *testing.T, code codes.Code, reason string, msg string) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "chat.switchboard.dev"})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// otherDomain is a refusal by the signaling service, whose reasons share
// some of chat's names.
func otherDomain(t *testing.T, code codes.Code, reason string, msg string) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "signaling.switchboard.dev"})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestDescribe(t *testing.T) {
	target := Target{Service: "chat", Addr: "127.0.0.1:9102", Timeout: 5 * time.Second}
	room := Subject{Room: 7}
	member := Subject{Room: 7, User: 5}
	reason := func(r chatv1.ErrorReason) string { return r.String() }
	tests := []struct {
		name       string
		err        error
		subject    Subject
		want       string
		connection bool
	}{
		{"already exists", status.Error(codes.AlreadyExists, "x"), room, "room 7 already exists", false},
		{"not found", status.Error(codes.NotFound, ""), room, "room 7 not found", false},
		{"not found with a message", status.Error(codes.NotFound, "no such room"), room, "room 7 not found (no such room)", false},
		{"named subject", status.Error(codes.NotFound, ""), Subject{Name: "token abc"}, "token abc not found", false},
		{"user subject", status.Error(codes.NotFound, ""), Subject{User: 3}, "user 3 not found", false},
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), room, "chat service unreachable at 127.0.0.1:9102", true},
		{"deadline", status.Error(codes.DeadlineExceeded, ""), room, "chat service at 127.0.0.1:9102 did not answer within 5s", true},
		{"unimplemented", status.Error(codes.Unimplemented, ""), room, "chat service at 127.0.0.1:9102 does not implement this call (wrong address or version?)", true},
		{"invalid", status.Error(codes.InvalidArgument, "name is empty"), room, "invalid request: name is empty", false},
		{"precondition without reason", status.Error(codes.FailedPrecondition, "not banned"), member, "refused: not banned", false},
		{"internal", status.Error(codes.Internal, "boom"), room, "chat service error (Internal): boom", false},
		{"not a status", errors.New("plain"), room, "plain", false},

		{"room not found reason", refusal(t, codes.NotFound, reason(chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND), "room not found"), member, "room 7 not found", false},
		{"not member reason", refusal(t, codes.FailedPrecondition, reason(chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER), "not a member"), member, "user 5 is not a member of room 7", false},
		{"not member, ids unknown", refusal(t, codes.PermissionDenied, reason(chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER), "not a member"), Subject{}, "the user is not a member of the room", false},
		{"not invited reason", refusal(t, codes.PermissionDenied, reason(chatv1.ErrorReason_ERROR_REASON_NOT_INVITED), ""), member, "user 5 is not invited to invite-only room 7", false},
		{"room full reason", refusal(t, codes.ResourceExhausted, reason(chatv1.ErrorReason_ERROR_REASON_ROOM_FULL), ""), member, "room 7 is full", false},
		{"room exists reason", refusal(t, codes.AlreadyExists, reason(chatv1.ErrorReason_ERROR_REASON_ROOM_EXISTS), "a room with that id exists"), room, "room 7 already exists", false},
		{"banned reason", refusal(t, codes.PermissionDenied, reason(chatv1.ErrorReason_ERROR_REASON_USER_BANNED), ""), member, "user 5 is banned from room 7", false},
		{"invalid message reason", refusal(t, codes.InvalidArgument, reason(chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE), "content is empty"), room, "invalid message: content is empty", false},
		{"rate limited reason", refusal(t, codes.ResourceExhausted, reason(chatv1.ErrorReason_ERROR_REASON_RATE_LIMITED), "slow down"), member, "rate limited: slow down", false},
		{"unknown reason falls back to the code", refusal(t, codes.NotFound, "ERROR_REASON_SOMETHING_NEW", "gone"), room, "room 7 not found (gone)", false},
		{"auth reason falls back to the code", refusal(t, codes.Unauthenticated, "ERROR_REASON_TOKEN_EXPIRED", "token expired"), Subject{}, "not authenticated: token expired", false},
		{"another service's reason of a chat name falls back to the code", otherDomain(t, codes.PermissionDenied, "ERROR_REASON_NOT_MEMBER", "not a member of the chat room"), member, "permission denied: not a member of the chat room", false},

		{"block of oneself", status.Error(codes.InvalidArgument, "blocked_user_id must differ from user_id"), Subject{User: 5, Blocked: 5}, "a user cannot block themselves", false},
		{"other invalid block", status.Error(codes.InvalidArgument, "user_id must be positive"), Subject{User: 5, Blocked: 6}, "invalid request: user_id must be positive", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Describe(tt.err, target, tt.subject)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Describe(%v, %+v) = %T, want *Error", tt.err, tt.subject, err)
			}
			if e.Msg != tt.want || e.Connection() != tt.connection {
				t.Errorf("Describe(%v, %+v) = %q connection %v, want %q connection %v", tt.err, tt.subject, e.Msg, e.Connection(), tt.want, tt.connection)
			}
			if got, want := Code(err), status.Code(tt.err); got != want {
				t.Errorf("Code(Describe(%v)) = %v, want %v", tt.err, got, want)
			}
		})
	}
	if Describe(nil, target, room) != nil {
		t.Errorf("Describe(nil) != nil")
	}
}
