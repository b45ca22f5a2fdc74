// Package server implements the auth service's gRPC API: token and API key
// verification and the revocation stream for edges and bridges, the user
// directory, revocations and API keys for the backend and operators. It
// maps verifier, store and broker errors to gRPC status codes, once, here.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/services/auth/internal/apikey"
	"switchboard.dev/services/auth/internal/store"
	"switchboard.dev/services/auth/internal/token"
)

// Domain is the google.rpc.ErrorInfo domain of refused tokens.
const Domain = "auth.switchboard.dev"

// Limits on admin input.
const (
	// MaxNicknameBytes bounds a directory nickname.
	MaxNicknameBytes = 256
	// MaxTokenIDBytes bounds a revoked jti (jwt-auth makes 16 characters).
	MaxTokenIDBytes = 256
	// MaxAPIKeyNameChars bounds an API key's name, in characters.
	MaxAPIKeyNameChars = 100
)

// newAPIKeyAttempts bounds the new ids and keys CreateAPIKey draws when one
// is taken, which 71 and 190 random bits make all but impossible.
const newAPIKeyAttempts = 3

// requestIDKey is the gRPC metadata key whose value, when a caller sends
// one, tags this service's log records.
const requestIDKey = "x-request-id"

// errRevoked refuses a genuine token whose jti was revoked, or whose user
// was revoked after the token was issued.
var errRevoked = errors.New("token revoked")

// errInvalidAPIKey refuses an API key that is malformed, unknown or
// revoked; it wraps the cause for the logs, which never quote the key.
var errInvalidAPIKey = errors.New("invalid api key")

// badRequest is admin input refused with INVALID_ARGUMENT; its text is
// written here and safe to show to the caller.
type badRequest string

func (e badRequest) Error() string { return string(e) }

// Server implements authv1.AuthService.
type Server struct {
	authv1.UnimplementedAuthServiceServer

	verifier *token.Verifier
	store    *store.Store
	broker   *eventstream.Broker[*authv1.Revocation]
	leeway   time.Duration
	now      func() time.Time
	log      *slog.Logger
}

var _ authv1.AuthServiceServer = (*Server)(nil)

// Options configure a Server.
type Options struct {
	// Leeway is the verifier's leeway: a revocation lasts that long past
	// its expiry, as the token it names does.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives refusals (at debug) and internal errors; nil discards.
	Logger *slog.Logger
}

// New returns a Server verifying with v, looking up revocations and
// nicknames in st, and streaming the revocations that st publishes to b.
func New(v *token.Verifier, st *store.Store, b *eventstream.Broker[*authv1.Revocation], opts Options) *Server {
	s := &Server{verifier: v, store: st, broker: b, leeway: opts.Leeway, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// VerifyToken implements authv1.AuthServiceServer.
func (s *Server) VerifyToken(ctx context.Context, req *authv1.VerifyTokenRequest) (*authv1.VerifyTokenResponse, error) {
	log := withRequestID(ctx, s.log)
	c, err := s.verifier.Verify(req.GetToken())
	if err != nil {
		return nil, toStatus(log, "VerifyToken", err)
	}
	// A revocation lasts as long as the tokens it covers: leeway included.
	at := s.now().Add(-s.leeway)
	if (c.ID != "" && s.store.IsRevoked(c.ID, at)) || s.store.IsUserRevoked(c.UserID, c.IssuedAt, at) {
		return nil, toStatus(log, "VerifyToken", errRevoked)
	}
	nick := c.Nickname
	if nick == "" {
		u, err := s.store.GetUser(c.UserID)
		switch {
		case err == nil:
			nick = u.GetNickname()
		case !errors.Is(err, store.ErrNotFound):
			return nil, toStatus(log, "VerifyToken", err)
		}
	}
	if nick == "" {
		nick = "user" + strconv.FormatInt(c.UserID, 10)
	}
	resp := &authv1.VerifyTokenResponse{
		UserId:    c.UserID,
		Nickname:  nick,
		ExpiresAt: timestamppb.New(c.ExpiresAt),
		TokenId:   c.ID,
	}
	if !c.IssuedAt.IsZero() {
		resp.IssuedAt = timestamppb.New(c.IssuedAt)
	}
	return resp, nil
}

// VerifyAPIKey implements authv1.AuthServiceServer. It looks the key up by
// its SHA-256; malformed, unknown and revoked keys get one refusal, so that
// nothing tells them apart.
func (s *Server) VerifyAPIKey(ctx context.Context, req *authv1.VerifyAPIKeyRequest) (*authv1.VerifyAPIKeyResponse, error) {
	log := withRequestID(ctx, s.log)
	key := req.GetKey()
	if _, err := apikey.Parse(key); err != nil {
		return nil, toStatus(log, "VerifyAPIKey", fmt.Errorf("%w: %w", errInvalidAPIKey, err))
	}
	k, err := s.store.APIKeyByHash(apikey.Hash(key))
	switch {
	case errors.Is(err, store.ErrAPIKeyNotFound):
		return nil, toStatus(log, "VerifyAPIKey", fmt.Errorf("%w: unknown", errInvalidAPIKey))
	case err != nil:
		return nil, toStatus(log, "VerifyAPIKey", err)
	case k.GetRevokedAt() != nil:
		return nil, toStatus(log, "VerifyAPIKey", fmt.Errorf("%w: key %s revoked", errInvalidAPIKey, k.GetId()))
	}
	return &authv1.VerifyAPIKeyResponse{ApiKey: k}, nil
}

// WatchRevocations implements authv1.AuthServiceServer. A stream that fell
// behind ends with RESOURCE_EXHAUSTED, one cut by a shutdown with
// UNAVAILABLE: either way the edge resumes after the last seq it received.
func (s *Server) WatchRevocations(req *authv1.WatchRevocationsRequest, stream authv1.AuthService_WatchRevocationsServer) error {
	ctx := stream.Context()
	log := withRequestID(ctx, s.log).With("edge_id", req.GetEdgeId())
	log.Info("watch revocations", "after_seq", req.GetAfterSeq(), "resume", req.AfterSeq != nil)
	err := s.broker.Stream(ctx, s.store, req.AfterSeq, func(b eventstream.Batch[*authv1.Revocation]) error {
		return stream.Send(&authv1.WatchRevocationsResponse{Revocations: b.Events, HeadSeq: b.Head, Truncated: b.Truncated})
	})
	log.Info("watch revocations ended", "reason", err)
	return eventstream.StreamError(ctx, err, func(err error) error {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return toStatus(log, "WatchRevocations", err)
	})
}

// PurgeRevocations forgets the revocations, and deletes the log entries,
// that can no longer refuse a token, leeway included.
func (s *Server) PurgeRevocations() (store.Purged, error) {
	return s.store.PurgeExpired(s.now().Add(-s.leeway))
}

// Admin implements authv1.AuthAdminService.
type Admin struct {
	authv1.UnimplementedAuthAdminServiceServer

	store   *store.Store
	userTTL time.Duration
	now     func() time.Time
	log     *slog.Logger
}

var _ authv1.AuthAdminServiceServer = (*Admin)(nil)

// AdminOptions configure an Admin.
type AdminOptions struct {
	// UserRevocationTTL is how long a user revocation lasts: the longest
	// lifetime of a login's tokens, refreshes included. Required.
	UserRevocationTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives revocations and internal errors; nil discards.
	Logger *slog.Logger
}

// NewAdmin returns an Admin over st.
func NewAdmin(st *store.Store, opts AdminOptions) *Admin {
	a := &Admin{store: st, userTTL: opts.UserRevocationTTL, now: opts.Now, log: opts.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// PutUser implements authv1.AuthAdminServiceServer.
func (a *Admin) PutUser(ctx context.Context, req *authv1.PutUserRequest) (*authv1.PutUserResponse, error) {
	log := withRequestID(ctx, a.log)
	u := req.GetUser()
	switch {
	case u.GetUserId() <= 0:
		return nil, toStatus(log, "PutUser", badRequest("user.user_id must be positive"))
	case u.GetNickname() == "":
		return nil, toStatus(log, "PutUser", badRequest("user.nickname must not be empty"))
	case len(u.GetNickname()) > MaxNicknameBytes:
		return nil, toStatus(log, "PutUser", badRequest("user.nickname is longer than "+strconv.Itoa(MaxNicknameBytes)+" bytes"))
	}
	if err := a.store.PutUser(&authv1.User{UserId: u.GetUserId(), Nickname: u.GetNickname()}); err != nil {
		return nil, toStatus(log, "PutUser", err)
	}
	return &authv1.PutUserResponse{}, nil
}

// GetUser implements authv1.AuthAdminServiceServer.
func (a *Admin) GetUser(ctx context.Context, req *authv1.GetUserRequest) (*authv1.GetUserResponse, error) {
	log := withRequestID(ctx, a.log)
	if req.GetUserId() <= 0 {
		return nil, toStatus(log, "GetUser", badRequest("user_id must be positive"))
	}
	u, err := a.store.GetUser(req.GetUserId())
	if err != nil {
		return nil, toStatus(log, "GetUser", err)
	}
	return &authv1.GetUserResponse{User: u}, nil
}

// RevokeToken implements authv1.AuthAdminServiceServer. Without expires_at
// the revocation is never forgotten: the service does not bound a token's
// lifetime.
func (a *Admin) RevokeToken(ctx context.Context, req *authv1.RevokeTokenRequest) (*authv1.RevokeTokenResponse, error) {
	log := withRequestID(ctx, a.log)
	jti := req.GetTokenId()
	switch {
	case jti == "":
		return nil, toStatus(log, "RevokeToken", badRequest("token_id must not be empty"))
	case len(jti) > MaxTokenIDBytes:
		return nil, toStatus(log, "RevokeToken", badRequest("token_id is longer than "+strconv.Itoa(MaxTokenIDBytes)+" bytes"))
	}
	// Unset: as long as the longest lifetime of a login's tokens.
	exp := a.now().Add(a.userTTL)
	if req.ExpiresAt != nil {
		if err := req.ExpiresAt.CheckValid(); err != nil {
			return nil, toStatus(log, "RevokeToken", badRequest("expires_at is not a valid timestamp"))
		}
		exp = req.ExpiresAt.AsTime()
	}
	if err := a.store.Revoke(jti, exp); err != nil {
		return nil, toStatus(log, "RevokeToken", err)
	}
	log.Info("token revoked", "expires_at", exp)
	return &authv1.RevokeTokenResponse{}, nil
}

// RevokeUser implements authv1.AuthAdminServiceServer.
func (a *Admin) RevokeUser(ctx context.Context, req *authv1.RevokeUserRequest) (*authv1.RevokeUserResponse, error) {
	log := withRequestID(ctx, a.log)
	if req.GetUserId() <= 0 {
		return nil, toStatus(log, "RevokeUser", badRequest("user_id must be positive"))
	}
	r, err := a.store.RevokeUser(req.GetUserId(), a.now(), a.userTTL)
	if err != nil {
		return nil, toStatus(log, "RevokeUser", err)
	}
	log.Info("user revoked", "user_id", req.GetUserId(), "seq", r.GetSeq(), "expires_at", r.GetExpiresAt().AsTime())
	return &authv1.RevokeUserResponse{IssuedBefore: r.GetIssuedBefore()}, nil
}

// CreateAPIKey implements authv1.AuthAdminServiceServer. The key is in the
// response only and is never logged: the store keeps its SHA-256.
func (a *Admin) CreateAPIKey(ctx context.Context, req *authv1.CreateAPIKeyRequest) (*authv1.CreateAPIKeyResponse, error) {
	log := withRequestID(ctx, a.log)
	env, name := req.GetEnv(), req.GetName()
	switch {
	case !apikey.ValidEnv(env):
		return nil, toStatus(log, "CreateAPIKey", badRequest("env must be 1 to "+strconv.Itoa(apikey.MaxEnvLen)+" characters of A-Z and 0-9"))
	case utf8.RuneCountInString(name) > MaxAPIKeyNameChars:
		return nil, toStatus(log, "CreateAPIKey", badRequest("name is longer than "+strconv.Itoa(MaxAPIKeyNameChars)+" characters"))
	case strings.ContainsFunc(name, unicode.IsControl):
		// The name is printed in tables and logs, one line per key.
		return nil, toStatus(log, "CreateAPIKey", badRequest("name must not contain control characters"))
	}
	for range newAPIKeyAttempts {
		key, id, err := apikey.New(env)
		if err != nil {
			return nil, toStatus(log, "CreateAPIKey", err)
		}
		k := &authv1.APIKey{Id: id, Env: env, Name: name, CreatedAt: timestamppb.New(a.now())}
		err = a.store.CreateAPIKey(k, apikey.Hash(key))
		if errors.Is(err, store.ErrAPIKeyExists) {
			continue
		}
		if err != nil {
			return nil, toStatus(log, "CreateAPIKey", err)
		}
		log.Info("api key created", "api_key_id", id, "env", env, "name", name)
		return &authv1.CreateAPIKeyResponse{ApiKey: k, Key: key}, nil
	}
	return nil, toStatus(log, "CreateAPIKey", fmt.Errorf("create api key: %d new ids or keys in a row were taken", newAPIKeyAttempts))
}

// ListAPIKeys implements authv1.AuthAdminServiceServer.
func (a *Admin) ListAPIKeys(ctx context.Context, _ *authv1.ListAPIKeysRequest) (*authv1.ListAPIKeysResponse, error) {
	keys, err := a.store.ListAPIKeys()
	if err != nil {
		return nil, toStatus(withRequestID(ctx, a.log), "ListAPIKeys", err)
	}
	return &authv1.ListAPIKeysResponse{ApiKeys: keys}, nil
}

// RevokeAPIKey implements authv1.AuthAdminServiceServer. Revoking a revoked
// key succeeds and changes nothing: its revoked_at stays the first one and
// the revocation is logged, and streamed, once.
func (a *Admin) RevokeAPIKey(ctx context.Context, req *authv1.RevokeAPIKeyRequest) (*authv1.RevokeAPIKeyResponse, error) {
	log := withRequestID(ctx, a.log)
	id := req.GetId()
	switch {
	case id == "":
		return nil, toStatus(log, "RevokeAPIKey", badRequest("id must not be empty"))
	case len(id) > apikey.MaxIDBytes:
		return nil, toStatus(log, "RevokeAPIKey", badRequest("id is longer than "+strconv.Itoa(apikey.MaxIDBytes)+" bytes"))
	}
	r, err := a.store.RevokeAPIKey(id, a.now())
	if err != nil {
		return nil, toStatus(log, "RevokeAPIKey", err)
	}
	if r != nil {
		log.Info("api key revoked", "api_key_id", id, "seq", r.GetSeq())
	}
	return &authv1.RevokeAPIKeyResponse{}, nil
}

// toStatus maps an error of the verifier, the store or this package to the
// status the client sees. Internal error text never leaves the service: it is
// logged here instead.
func toStatus(log *slog.Logger, rpc string, err error) error {
	var bad badRequest
	switch {
	case errors.Is(err, errInvalidAPIKey):
		return refusal(log, rpc, err, authv1.ErrorReason_ERROR_REASON_INVALID_API_KEY, "invalid API key")
	case errors.Is(err, errRevoked):
		return refusal(log, rpc, err, authv1.ErrorReason_ERROR_REASON_TOKEN_REVOKED, "token revoked")
	case errors.Is(err, token.ErrExpired):
		return refusal(log, rpc, err, authv1.ErrorReason_ERROR_REASON_TOKEN_EXPIRED, "token expired")
	case errors.Is(err, token.ErrInvalid):
		return refusal(log, rpc, err, authv1.ErrorReason_ERROR_REASON_INVALID_TOKEN, "invalid token")
	case errors.As(err, &bad):
		return status.Error(codes.InvalidArgument, bad.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "user not found")
	case errors.Is(err, store.ErrAPIKeyNotFound):
		return status.Error(codes.NotFound, "API key not found")
	default:
		log.Error("rpc failed", "rpc", rpc, "err", err)
		return status.Error(codes.Internal, "internal error")
	}
}

// refusal is UNAUTHENTICATED with a google.rpc.ErrorInfo naming reason.
func refusal(log *slog.Logger, rpc string, err error, reason authv1.ErrorReason, msg string) error {
	// The verifier's and apikey.Parse's errors never quote the token or key.
	log.Debug("credential refused", "rpc", rpc, "reason", reason.String(), "err", err)
	st := status.New(codes.Unauthenticated, msg)
	detailed, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if derr != nil {
		return st.Err()
	}
	return detailed.Err()
}

func withRequestID(ctx context.Context, log *slog.Logger) *slog.Logger {
	if ids := metadata.ValueFromIncomingContext(ctx, requestIDKey); len(ids) > 0 {
		return log.With("request_id", ids[0])
	}
	return log
}
