package media

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"switchboard.dev/bridge/effect"
)

// Session is one client's peer connection on the node.
type Session struct {
	id   string
	node *Node
	ev   Events
	done chan struct{}

	mu     sync.Mutex
	closed bool
	pc     *webrtc.PeerConnection
	loops  map[*webrtc.RTPReceiver]*loop // set before the answer, then read only
	wg     sync.WaitGroup                // the track and RTCP loops

	closeOnce sync.Once
}

// loop is a track sent back to the client, fed by the track the client
// sends on the same m-line.
type loop struct {
	mid   string
	track *webrtc.TrackLocalStaticRTP
	out   webrtc.RTPCodecParameters
	// remoteSSRC is the client's track's SSRC once it arrived: the target of
	// the keyframe requests the client sends about the loop.
	remoteSSRC atomic.Uint32
}

func newSession(id string, n *Node, ev Events) *Session {
	if ev.Candidate == nil {
		ev.Candidate = func(webrtc.ICECandidateInit) {}
	}
	if ev.State == nil {
		ev.State = func(webrtc.PeerConnectionState) {}
	}
	return &Session{id: id, node: n, ev: ev, done: make(chan struct{}), loops: map[*webrtc.RTPReceiver]*loop{}}
}

// ID names the session, for logs.
func (s *Session) ID() string { return s.id }

// Done is closed once the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// answer sets up the peer connection for offerSDP and returns its answer.
func (s *Session) answer(offerSDP string) (string, error) {
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}
	parsed, err := offer.Unmarshal()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	pc, err := s.node.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = pc.Close()
		return "", ErrClosed
	}
	s.pc = pc
	s.mu.Unlock()

	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil { // nil ends the gathering: nothing to tell
			s.ev.Candidate(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.node.log.Debug("media session state", "session_id", s.id, "state", st.String())
		s.ev.State(st)
	})
	pc.OnDataChannel(echo)
	pc.OnTrack(s.onTrack)

	if err := pc.SetRemoteDescription(offer); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	if err := s.addLoops(pc, parsed); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	return answer.SDP, nil
}

// addLoops gives every audio or video m-line on which the client both
// sends and receives a track of the node's that carries the client's media
// back.
func (s *Session) addLoops(pc *webrtc.PeerConnection, offer *sdp.SessionDescription) error {
	loopMids := map[string]bool{}
	for _, md := range offer.MediaDescriptions {
		if md.MediaName.Media != "audio" && md.MediaName.Media != "video" {
			continue
		}
		mid, _ := md.Attribute("mid")
		if direction(md) == "sendrecv" {
			loopMids[mid] = true
		}
	}
	for _, t := range pc.GetTransceivers() {
		mid := t.Mid()
		if !loopMids[mid] || t.Receiver() == nil {
			continue
		}
		codecs := t.Receiver().GetParameters().Codecs
		if len(codecs) == 0 {
			continue // nothing negotiated on this m-line
		}
		track, err := webrtc.NewTrackLocalStaticRTP(codecs[0].RTPCodecCapability, "loop-"+mid, "switchboard-"+s.id)
		if err != nil {
			return fmt.Errorf("loop track: %w", err)
		}
		sender, err := s.node.api.NewRTPSender(track, pc.SCTP().Transport())
		if err != nil {
			return fmt.Errorf("loop sender: %w", err)
		}
		if err := t.SetSender(sender, track); err != nil {
			return fmt.Errorf("loop sender: %w", err)
		}
		l := &loop{mid: mid, track: track, out: codecs[0]}
		s.mu.Lock()
		s.loops[t.Receiver()] = l
		if !s.closed {
			s.wg.Go(func() { s.forwardKeyframeRequests(pc, sender, l) })
		}
		s.mu.Unlock()
	}
	return nil
}

// direction is an m-line's direction attribute; sendrecv when absent.
func direction(md *sdp.MediaDescription) string {
	for _, a := range md.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return "sendrecv"
}

// onTrack runs the effect stage on a track the client sends until the
// track ends (the peer connection closes).
func (s *Session) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	l := s.loops[receiver]
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	log := s.node.log.With("session_id", s.id, "kind", remote.Kind().String(), "codec", remote.Codec().MimeType)
	if l == nil {
		// A send-only m-line: nothing goes back, the packets are read so
		// that the receive side keeps working.
		for {
			if _, _, err := remote.ReadRTP(); err != nil {
				return
			}
		}
	}
	l.remoteSSRC.Store(uint32(remote.SSRC()))
	stage := s.node.effect.Start(effect.Track{SessionID: s.id, Kind: remote.Kind(), Codec: remote.Codec(), Out: l.out})
	defer stage.Close()
	// A write fails when the connection is congested or closing: the packet
	// is lost, as it would be on the network, and the next one goes out.
	emit := func(p *rtp.Packet) error {
		_ = l.track.WriteRTP(p)
		return nil
	}
	log.Debug("media track looped", "mid", l.mid)
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		if err := stage.Process(pkt, emit); err != nil {
			log.Warn("effect stage failed; the track is no longer sent back", "err", err)
			for {
				if _, _, err := remote.ReadRTP(); err != nil {
					return
				}
			}
		}
	}
}

// forwardKeyframeRequests passes the client's keyframe requests about a
// loop track on to the client's own track, whose keyframes the loop
// carries, until the sender stops.
func (s *Session) forwardKeyframeRequests(pc *webrtc.PeerConnection, sender *webrtc.RTPSender, l *loop) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if ssrc := l.remoteSSRC.Load(); ssrc != 0 {
					_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				}
			}
		}
	}
}

// echo sends every message of a data channel the client opened back on it.
func echo(dc *webrtc.DataChannel) {
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if msg.IsString {
			_ = dc.SendText(string(msg.Data))
			return
		}
		_ = dc.Send(msg.Data)
	})
}

// AddCandidate adds a candidate the client trickled.
func (s *Session) AddCandidate(c webrtc.ICECandidateInit) error {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return ErrClosed
	}
	if err := pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

// Close closes the peer connection, waits for the session's loops and
// frees its slot on the node. It may be called more than once.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		pc := s.pc
		s.mu.Unlock()
		if pc != nil {
			if err := pc.Close(); err != nil {
				s.node.log.Debug("close peer connection", "session_id", s.id, "err", err)
			}
		}
		s.wg.Wait()
		s.node.remove(s.id)
		close(s.done)
		s.node.log.Info("media session closed", "session_id", s.id)
	})
}
