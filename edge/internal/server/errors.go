package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/edge/internal/protocol"
)

// ErrorCode maps an error from a service's RPC to the client-facing
// error code. It is the only place where gRPC statuses become error codes:
// a google.rpc.ErrorInfo reason wins, else the status code decides.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return protocol.CodeServiceUnavailable
		}
		return protocol.CodeInternalError
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			if code := reasonCode(info.GetReason()); code != "" {
				return code
			}
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return protocol.CodeServiceUnavailable
	case codes.InvalidArgument:
		return protocol.CodeInvalidData
	case codes.PermissionDenied:
		return protocol.CodePermissionDenied
	case codes.NotFound:
		return protocol.CodeRoomNotFound
	case codes.Unauthenticated:
		return protocol.CodeInvalidToken
	case codes.ResourceExhausted:
		return protocol.CodeRateLimited
	default:
		return protocol.CodeInternalError
	}
}

// reasonCode maps an ErrorInfo reason (the name of a chatv1, authv1 or
// signalingv1 ErrorReason value, with or without its ERROR_REASON_ prefix) to an error
// code; "" when the reason is unknown.
func reasonCode(reason string) string {
	switch strings.TrimPrefix(reason, "ERROR_REASON_") {
	case "ROOM_NOT_FOUND":
		return protocol.CodeRoomNotFound
	case "NOT_MEMBER", "NOT_INVITED", "NOT_PARTICIPANT":
		return protocol.CodePermissionDenied
	case "VIDEO_ROOM_NOT_FOUND":
		return protocol.CodeVideoRoomNotFound
	case "VIDEO_ROOM_FULL":
		return protocol.CodeVideoRoomFull
	case "INVALID_SIGNAL":
		return protocol.CodeInvalidData
	case "ROOM_FULL":
		return protocol.CodeRoomFull
	case "INVALID_MESSAGE":
		return protocol.CodeInvalidData
	case "USER_BANNED", "USER_BLOCKED", "BANNED":
		return protocol.CodeUserBlocked
	case "RATE_LIMITED":
		return protocol.CodeRateLimited
	case "INVALID_TOKEN":
		return protocol.CodeInvalidToken
	case "TOKEN_EXPIRED":
		return protocol.CodeTokenExpired
	case "TOKEN_REVOKED":
		return protocol.CodeTokenRevoked
	}
	return ""
}
