package server

import (
	"context"
	"time"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
	"switchboard.dev/platform/feed"
)

// ConsumeRevocations runs the edge's one revocation stream until ctx is
// done, ending the local sessions each revocation covers; after a break it
// resumes after the last revocation it saw.
func (srv *Server) ConsumeRevocations(ctx context.Context) {
	feed.Feed[*authv1.WatchRevocationsResponse, *authv1.Revocation]{
		Name: "revocation",
		Log:  srv.log,
		Open: func(ctx context.Context, after *uint64) (feed.Stream[*authv1.WatchRevocationsResponse], error) {
			return srv.opts.Auth.WatchRevocations(ctx, &authv1.WatchRevocationsRequest{EdgeId: srv.opts.EdgeID, AfterSeq: after})
		},
		Events: (*authv1.WatchRevocationsResponse).GetRevocations,
		Handle: srv.Revoke,
	}.Run(ctx)
}

// Revoke ends the local sessions whose token r covers: a revoked token
// (by jti), or a user's tokens issued before r's issued_before. Each gets
// ERROR TOKEN_REVOKED, then is closed.
func (srv *Server) Revoke(r *authv1.Revocation) {
	var rev hub.Revocation
	switch t := r.GetTarget().(type) {
	case *authv1.Revocation_TokenId:
		if t.TokenId == "" {
			return
		}
		rev.TokenID = t.TokenId
	case *authv1.Revocation_UserId:
		rev.UserID = t.UserId
		if r.GetIssuedBefore() != nil {
			rev.IssuedBefore = r.GetIssuedBefore().AsTime()
		}
	default:
		return
	}
	line := protocol.AppendError(make([]byte, 0, 192), srv.serverHeader(), protocol.CodeTokenRevoked, "", "")
	if n := srv.hub.Revoke(rev, line); n > 0 {
		// The jti is not a secret: it names the token, it does not grant it.
		srv.log.Info("sessions ended: token revoked", "seq", r.GetSeq(), "token_id", rev.TokenID,
			"user_id", rev.UserID, "sessions", n)
	}
}

// token is what the hub judges revocations by, from a verified token.
func token(id *authv1.VerifyTokenResponse) hub.Token {
	t := hub.Token{ID: id.GetTokenId()}
	if id.GetIssuedAt() != nil {
		t.IssuedAt = id.GetIssuedAt().AsTime()
	}
	return t
}

// expiry is a verified token's exp, zero when it has none.
func expiry(id *authv1.VerifyTokenResponse) time.Time {
	if id.GetExpiresAt() == nil {
		return time.Time{}
	}
	return id.GetExpiresAt().AsTime()
}
