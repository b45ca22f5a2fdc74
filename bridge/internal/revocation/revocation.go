// Package revocation ends the bridge sessions of revoked API keys: Watch
// consumes the auth service's revocation stream, resuming after a break
// from the last sequence number it saw, and hands each revoked key to a
// Registry of the open sessions by key.
package revocation

import (
	"context"
	"log/slog"
	"sync"
	"time"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/platform/feed"
)

// rememberRevoked is how many recently revoked key ids a Registry keeps,
// to refuse a session whose key was revoked between its verification and
// its registration.
const rememberRevoked = 1024

// Registry keeps the open sessions by API key id.
type Registry struct {
	mu       sync.Mutex
	sessions map[string]map[*entry]struct{}
	revoked  map[string]struct{}
	order    []string // revoked, oldest first
}

type entry struct{ end func() }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{sessions: map[string]map[*entry]struct{}{}, revoked: map[string]struct{}{}}
}

// Add registers a session of key keyID, ended by calling end when the key
// is revoked. It returns the function that unregisters the session, and
// false (registering nothing) when the key was just revoked.
func (r *Registry) Add(keyID string, end func()) (remove func(), ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, revoked := r.revoked[keyID]; revoked {
		return func() {}, false
	}
	e := &entry{end: end}
	set := r.sessions[keyID]
	if set == nil {
		set = map[*entry]struct{}{}
		r.sessions[keyID] = set
	}
	set[e] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.sessions[keyID], e)
		if len(r.sessions[keyID]) == 0 {
			delete(r.sessions, keyID)
		}
	}, true
}

// Revoke ends the sessions of key keyID and returns how many there were.
func (r *Registry) Revoke(keyID string) int {
	r.mu.Lock()
	set := r.sessions[keyID]
	delete(r.sessions, keyID)
	if _, seen := r.revoked[keyID]; !seen {
		r.revoked[keyID] = struct{}{}
		r.order = append(r.order, keyID)
		if len(r.order) > rememberRevoked {
			delete(r.revoked, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.mu.Unlock()
	for e := range set {
		e.end()
	}
	return len(set)
}

// Watcher consumes AuthService.WatchRevocations.
type Watcher struct {
	// Auth is the auth service. Required.
	Auth authv1.AuthServiceClient
	// Name names the bridge in the stream's request, for the auth
	// service's logs.
	Name string
	// Registry receives the revoked keys. Required.
	Registry *Registry
	// MinBackoff and MaxBackoff bound the wait before resubscribing; zero
	// takes platform/feed's defaults.
	MinBackoff, MaxBackoff time.Duration
	// Connected, when set, is told true after each stream's first
	// response and false when a stream that was open breaks.
	Connected func(bool)
	// Logger receives the watcher's records; nil discards them.
	Logger *slog.Logger
}

// Run consumes the stream until ctx is done. The first stream starts at
// the head of the log: sessions open only after the bridge started. After
// a break it resumes after the last revocation it handled, so that none
// is lost or handled twice (platform/feed).
func (w Watcher) Run(ctx context.Context) {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := feed.Feed[*authv1.WatchRevocationsResponse, *authv1.Revocation]{
		Name: "revocation",
		Log:  log,
		Open: func(ctx context.Context, after *uint64) (feed.Stream[*authv1.WatchRevocationsResponse], error) {
			return w.Auth.WatchRevocations(ctx, &authv1.WatchRevocationsRequest{EdgeId: w.Name, AfterSeq: after})
		},
		Events: (*authv1.WatchRevocationsResponse).GetRevocations,
		Handle: func(r *authv1.Revocation) {
			if id := r.GetApiKeyId(); id != "" {
				n := w.Registry.Revoke(id)
				log.Info("api key revoked: sessions ended", "api_key_id", id, "sessions", n)
			}
		},
		MinBackoff: w.MinBackoff,
		MaxBackoff: w.MaxBackoff,
	}
	if w.Connected != nil {
		f.Opened = func() { w.Connected(true) }
		f.Lost = func() { w.Connected(false) }
	}
	f.Run(ctx)
}
