package server

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/services/auth/internal/store"
	"switchboard.dev/services/auth/internal/token"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
		wantMsg    string
	}{
		{"expired", fmt.Errorf("%w: secret detail", token.ErrExpired), codes.Unauthenticated, "ERROR_REASON_TOKEN_EXPIRED", "token expired"},
		{"invalid", fmt.Errorf("%w: secret detail", token.ErrInvalid), codes.Unauthenticated, "ERROR_REASON_INVALID_TOKEN", "invalid token"},
		{"revoked", errRevoked, codes.Unauthenticated, "ERROR_REASON_TOKEN_REVOKED", "token revoked"},
		{"not found", fmt.Errorf("get user 5: %w", store.ErrNotFound), codes.NotFound, "", "user not found"},
		{"invalid api key", fmt.Errorf("%w: key key_x revoked", errInvalidAPIKey), codes.Unauthenticated, "ERROR_REASON_INVALID_API_KEY", "invalid API key"},
		{"api key not found", fmt.Errorf("revoke api key key_x: %w", store.ErrAPIKeyNotFound), codes.NotFound, "", "API key not found"},
		{"bad request", badRequest("user_id must be positive"), codes.InvalidArgument, "", "user_id must be positive"},
		{"internal", errors.New("bbolt: secret detail"), codes.Internal, "", "internal error"},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(log, "Test", tt.err))
			var reason string
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.GetReason()
					if info.GetDomain() != Domain {
						t.Errorf("toStatus(%v) domain = %q, want %q", tt.err, info.GetDomain(), Domain)
					}
				}
			}
			if st.Code() != tt.wantCode || reason != tt.wantReason || st.Message() != tt.wantMsg {
				t.Errorf("toStatus(%v) = %v %q %q, want %v %q %q", tt.err, st.Code(), reason, st.Message(), tt.wantCode, tt.wantReason, tt.wantMsg)
			}
		})
	}
}
