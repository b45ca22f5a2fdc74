// Package effect defines the stage a media node runs between the media a
// client sends and the media it gets back. The original product applied
// live video effects on GPU workers there; the reference stage, Identity,
// returns every packet as it came (a loopback).
package effect

import (
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Track describes one track a client sends.
type Track struct {
	// SessionID names the node's session, for logs.
	SessionID string
	// Kind is audio or video.
	Kind webrtc.RTPCodecType
	// Codec is the codec the client sends the track with.
	Codec webrtc.RTPCodecParameters
	// Out is the codec of the track sent back; it is the first codec both
	// sides negotiated for the track's m-line, which is Codec unless the
	// client chose to send another one.
	Out webrtc.RTPCodecParameters
}

// Effect makes the stage of each track a client sends. A node calls it
// from many sessions at once: it must be safe for concurrent use.
type Effect interface {
	// Start returns the stage of a new track.
	Start(t Track) Stage
}

// Stage processes the packets of one track, in order, from one goroutine.
type Stage interface {
	// Process handles one received packet: it calls emit for each packet
	// to send back (none to drop it, several to split it). A packet and
	// its payload may be modified and passed to emit, but not kept after
	// Process returns. An error ends the track's processing.
	Process(pkt *rtp.Packet, emit func(*rtp.Packet) error) error
	// Close releases the stage once the track ended.
	Close()
}

// Identity is the reference effect: every packet goes back unchanged.
type Identity struct{}

var _ Effect = Identity{}

// Start implements Effect.
func (Identity) Start(Track) Stage { return identityStage{} }

type identityStage struct{}

func (identityStage) Process(pkt *rtp.Packet, emit func(*rtp.Packet) error) error {
	return emit(pkt)
}

func (identityStage) Close() {}
