// Package media is the WebRTC side of a media node: it answers a client's
// offer, trickles candidates both ways, and once ICE and DTLS complete
// echoes the client's data-channel messages and sends the client's media
// back through an effect stage. Server serves it as switchboard.media.v1.
package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"

	"switchboard.dev/bridge/effect"
)

// Errors of Open.
var (
	// ErrFull refuses a session beyond the node's MaxSessions.
	ErrFull = errors.New("media node full")
	// ErrInvalidOffer refuses an offer the node cannot answer.
	ErrInvalidOffer = errors.New("invalid offer")
	// ErrClosed refuses a session on a node that is shutting down.
	ErrClosed = errors.New("media node closed")
)

// Options configure a Node.
type Options struct {
	// API builds the peer connections, with the node's ICE settings.
	// Required.
	API *webrtc.API
	// Effect processes the media sent back; nil means effect.Identity.
	Effect effect.Effect
	// MaxSessions bounds the open sessions; 0 means no limit.
	MaxSessions int
	// Logger receives the node's records; nil discards them.
	Logger *slog.Logger
}

// Node keeps a media node's open sessions.
type Node struct {
	api    *webrtc.API
	effect effect.Effect
	max    int
	log    *slog.Logger

	mu       sync.Mutex
	closed   bool
	sessions map[string]*Session
}

// NewNode returns a node without sessions.
func NewNode(opts Options) *Node {
	n := &Node{api: opts.API, effect: opts.Effect, max: opts.MaxSessions, log: opts.Logger, sessions: map[string]*Session{}}
	if n.effect == nil {
		n.effect = effect.Identity{}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	return n
}

// MaxSessions is the node's session limit; 0 means none.
func (n *Node) MaxSessions() int { return n.max }

// Active counts the open sessions.
func (n *Node) Active() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sessions)
}

// Events receive what a session produces. They are called from the
// WebRTC stack's goroutines and must not block.
type Events struct {
	// Candidate receives each local candidate as it is gathered.
	Candidate func(webrtc.ICECandidateInit)
	// State receives each change of the peer connection's state.
	State func(webrtc.PeerConnectionState)
}

// Open answers offerSDP with a new session, returning the session and its
// answer. The session's candidates and states go to ev from the moment
// Open returns them, possibly before it returns. The caller must Close the
// session.
func (n *Node) Open(offerSDP string, ev Events) (*Session, string, error) {
	id, err := newID()
	if err != nil {
		return nil, "", err
	}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return nil, "", ErrClosed
	case n.max > 0 && len(n.sessions) >= n.max:
		n.mu.Unlock()
		return nil, "", ErrFull
	}
	s := newSession(id, n, ev)
	n.sessions[id] = s // holds the slot while the offer is answered
	n.mu.Unlock()

	answer, err := s.answer(offerSDP)
	if err != nil {
		s.Close()
		return nil, "", err
	}
	n.log.Info("media session opened", "session_id", id)
	return s, answer, nil
}

// CloseAll closes every session and refuses new ones, for a shutdown.
func (n *Node) CloseAll() {
	n.mu.Lock()
	n.closed = true
	all := make([]*Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		all = append(all, s)
	}
	n.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

func (n *Node) remove(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.sessions, id)
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
