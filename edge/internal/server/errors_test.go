package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

func withReason(c codes.Code, reason string) error {
	st, err := status.New(c, "detail").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "switchboard"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"room not found", withReason(codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND.String()), "ROOM_NOT_FOUND"},
		{"not member", withReason(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER.String()), "PERMISSION_DENIED"},
		{"not invited", withReason(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_INVITED.String()), "PERMISSION_DENIED"},
		{"room full reason wins over code", withReason(codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_ROOM_FULL.String()), "ROOM_FULL"},
		{"invalid message", withReason(codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE.String()), "INVALID_DATA"},
		{"user banned", withReason(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_USER_BANNED.String()), "USER_BLOCKED"},
		{"rate limited reason wins over code", withReason(codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_RATE_LIMITED.String()), "RATE_LIMITED"},
		{"reason without prefix", withReason(codes.Unknown, "ROOM_FULL"), "ROOM_FULL"},
		{"video room full", withReason(codes.FailedPrecondition, signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_FULL.String()), "VIDEO_ROOM_FULL"},
		{"video room not found", withReason(codes.NotFound, signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_NOT_FOUND.String()), "VIDEO_ROOM_NOT_FOUND"},
		{"not a participant", withReason(codes.PermissionDenied, signalingv1.ErrorReason_ERROR_REASON_NOT_PARTICIPANT.String()), "PERMISSION_DENIED"},
		{"invalid signal", withReason(codes.InvalidArgument, signalingv1.ErrorReason_ERROR_REASON_INVALID_SIGNAL.String()), "INVALID_DATA"},
		{"invalid token", withReason(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_INVALID_TOKEN.String()), "INVALID_TOKEN"},
		{"token expired", withReason(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_EXPIRED.String()), "TOKEN_EXPIRED"},
		{"token revoked", withReason(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_REVOKED.String()), "TOKEN_REVOKED"},
		{"unknown reason falls back to code", withReason(codes.NotFound, "SOMETHING_NEW"), "ROOM_NOT_FOUND"},
		{"unavailable", status.Error(codes.Unavailable, "x"), "SERVICE_UNAVAILABLE"},
		{"deadline", status.Error(codes.DeadlineExceeded, "x"), "SERVICE_UNAVAILABLE"},
		{"canceled", status.Error(codes.Canceled, "x"), "SERVICE_UNAVAILABLE"},
		{"invalid argument", status.Error(codes.InvalidArgument, "x"), "INVALID_DATA"},
		{"permission denied", status.Error(codes.PermissionDenied, "x"), "PERMISSION_DENIED"},
		{"not found", status.Error(codes.NotFound, "x"), "ROOM_NOT_FOUND"},
		{"unauthenticated", status.Error(codes.Unauthenticated, "x"), "INVALID_TOKEN"},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "x"), "RATE_LIMITED"},
		{"internal", status.Error(codes.Internal, "x"), "INTERNAL_ERROR"},
		{"failed precondition", status.Error(codes.FailedPrecondition, "x"), "INTERNAL_ERROR"},
		{"context deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), "SERVICE_UNAVAILABLE"},
		{"plain error", errors.New("boom"), "INTERNAL_ERROR"},
		{"nil", nil, ""},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("%s: ErrorCode(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}
