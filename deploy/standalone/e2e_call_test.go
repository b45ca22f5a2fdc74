package standalone

import (
	"bufio"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// callPeer is a WebRTC peer (pion) whose signaling goes only through its
// own edge session: offers, answers and trickled candidates are envelopes
// on the TCP connection, relayed by the signaling service.
type callPeer struct {
	t      *testing.T
	name   string
	userID int64
	room   int64 // the video room
	conn   net.Conn
	r      *bufio.Reader
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	peerID int64 // the other participant

	wmu sync.Mutex // serializes writes to conn (pion calls back from its own goroutines)

	mu         sync.Mutex
	remoteSet  bool
	candidates []webrtc.ICECandidateInit // arrived before the remote description

	connected    chan struct{} // ICE connected and DTLS done
	gotMessage   chan string   // data-channel messages received
	gotRTP       chan uint16   // sequence numbers of the RTP packets received
	connectOnce  sync.Once
	iceConnected chan struct{}
	iceOnce      sync.Once
}

// loopbackAPI is a pion API that gathers host candidates on the loopback
// interface alone, without mDNS: the call never leaves the machine.
func loopbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me))
}

// newCallPeer makes the peer connection of a participant whose edge
// session is cl (authenticated and in the video room), with a VP8 track to
// send; the handlers relay its candidates through the edge.
func newCallPeer(t *testing.T, api *webrtc.API, cl *client, userID, peerID, room int64) *callPeer {
	t.Helper()
	p := &callPeer{t: t, name: cl.name, userID: userID, peerID: peerID, room: room, conn: cl.conn, r: cl.r,
		connected: make(chan struct{}), iceConnected: make(chan struct{}),
		gotMessage: make(chan string, 16), gotRTP: make(chan uint16, 256)}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	p.pc = pc
	p.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "stream-"+p.name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(p.track); err != nil {
		t.Fatal(err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // gathering done
		}
		p.signal("ICE_CANDIDATE", "candidate", c.ToJSON())
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			p.iceOnce.Do(func() { close(p.iceConnected) })
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		// Connected means ICE connected and the DTLS handshake done.
		if s == webrtc.PeerConnectionStateConnected {
			p.connectOnce.Do(func() { close(p.connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case p.gotRTP <- pkt.SequenceNumber:
			default:
			}
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			p.gotMessage <- string(m.Data)
			if err := dc.SendText("pong from " + p.name); err != nil {
				t.Errorf("%s: data channel send: %v", p.name, err)
			}
		})
	})
	return p
}

// signal sends an SDP_OFFER, SDP_ANSWER or ICE_CANDIDATE to the other
// participant through the edge. Safe from pion's goroutines.
func (p *callPeer) signal(action, field string, payload any) {
	b, err := json.Marshal(map[string]any{"action": action, "data": map[string]any{
		"video_room_id": p.room, "target_user_id": p.peerID, field: payload,
	}})
	if err != nil {
		p.t.Errorf("%s: %v", p.name, err)
		return
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.conn.Write(append(b, '\n')); err != nil {
		p.t.Errorf("%s: write %s: %v", p.name, action, err)
	}
}

// readSignals handles the signaling envelopes that reach the peer's
// session until the connection is closed: an offer is answered, an answer
// applied, candidates added (or queued until the remote description).
// Anything else is an error: nothing but signaling is expected during the
// call.
func (p *callPeer) readSignals(done <-chan struct{}) {
	for {
		p.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := p.r.ReadBytes('\n')
		if err != nil {
			select {
			case <-done:
			default:
				p.t.Errorf("%s: read: %v", p.name, err)
			}
			return
		}
		var env struct {
			Action string `json:"action"`
			Data   struct {
				VideoRoomID int64                     `json:"video_room_id"` // a JSON number: a string fails the decode
				FromUserID  int64                     `json:"from_user_id"`
				SDP         webrtc.SessionDescription `json:"sdp"`
				Candidate   webrtc.ICECandidateInit   `json:"candidate"`
			} `json:"data"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			p.t.Errorf("%s: bad envelope %s: %v", p.name, line, err)
			continue
		}
		switch env.Action {
		case "SDP_OFFER", "SDP_ANSWER", "ICE_CANDIDATE":
		case "USER_STATUS_CHANGED", "PARTICIPANT_MEDIA_CHANGED", "VIDEO_PARTICIPANT_JOINED":
			continue
		default:
			p.t.Errorf("%s: unexpected %s during the call", p.name, line)
			continue
		}
		if env.Data.FromUserID != p.peerID || env.Data.VideoRoomID != p.room {
			p.t.Errorf("%s: %s from user %d in %d, want from %d in %d", p.name, env.Action, env.Data.FromUserID, env.Data.VideoRoomID, p.peerID, p.room)
		}
		switch env.Action {
		case "SDP_OFFER":
			p.setRemote(env.Data.SDP)
			answer, err := p.pc.CreateAnswer(nil)
			if err != nil {
				p.t.Errorf("%s: CreateAnswer: %v", p.name, err)
				return
			}
			if err := p.pc.SetLocalDescription(answer); err != nil {
				p.t.Errorf("%s: SetLocalDescription: %v", p.name, err)
				return
			}
			p.signal("SDP_ANSWER", "sdp", answer)
		case "SDP_ANSWER":
			p.setRemote(env.Data.SDP)
		case "ICE_CANDIDATE":
			p.mu.Lock()
			if !p.remoteSet {
				p.candidates = append(p.candidates, env.Data.Candidate)
				p.mu.Unlock()
				continue
			}
			p.mu.Unlock()
			if err := p.pc.AddICECandidate(env.Data.Candidate); err != nil {
				p.t.Errorf("%s: AddICECandidate: %v", p.name, err)
			}
		}
	}
}

// setRemote applies the remote description, then the candidates that came
// before it.
func (p *callPeer) setRemote(d webrtc.SessionDescription) {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		p.t.Errorf("%s: SetRemoteDescription: %v", p.name, err)
		return
	}
	p.mu.Lock()
	p.remoteSet = true
	queued := p.candidates
	p.candidates = nil
	p.mu.Unlock()
	for _, c := range queued {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.t.Errorf("%s: AddICECandidate: %v", p.name, err)
		}
	}
}

// sendRTP writes VP8-payload RTP packets on the peer's track until stop
// is closed, at most 500 of them.
func (p *callPeer) sendRTP(stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range 500 {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, SSRC: 1},
			Payload: []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(i)}}
		if err := p.track.WriteRTP(pkt); err != nil {
			p.t.Errorf("%s: WriteRTP: %v", p.name, err)
			return
		}
	}
}

func waitFor[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20 s", what)
		var zero T
		return zero
	}
}

// TestRealCall is a two-party WebRTC call between two pion peers, each on
// its own edge, whose offer, answer and trickled candidates travel only
// through the edges and the signaling service. It reaches ICE connected and
// DTLS, passes data-channel messages both ways, and RTP both ways.
func TestRealCall(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "call"})
	edgeA, edgeB := c.edge("edge-a"), c.edge("edge-b")
	const aliceID, bobID = 1001, 1002
	alice := dialEdge(t, edgeA, "alice")
	alice.connect(mint(t, aliceID, "alice", time.Hour))
	alice.join(1)
	bob := dialEdge(t, edgeB, "bob")
	bob.connect(mint(t, bobID, "bob", time.Hour))
	bob.join(1)
	skipUntil(t, alice, "USER_JOINED")

	// The protocol document's flow: alice creates the room (she is in it),
	// bob joins, alice offers to him; the room's id is a JSON number
	// throughout.
	seq := alice.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": 1, "video_room_name": "call", "max_participants": 2})
	room := videoRoomID(t, alice.expect("VIDEO_ROOM_CREATED", seq))
	skipUntil(t, bob, "VIDEO_ROOM_CREATED")
	seq = bob.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room, "media_status": map[string]any{"audio_enabled": false, "video_enabled": true}})
	joined := bob.expect("JOIN_VIDEO_ROOM_SUCCESS", seq)
	if ps, _ := joined.Data["participants"].([]any); len(ps) != 2 {
		t.Fatalf("bob's JOIN_VIDEO_ROOM_SUCCESS = %s, want alice and bob listed", joined.raw)
	}
	if env := alice.expect("VIDEO_PARTICIPANT_JOINED", seq); num(env.Data["user_id"]) != bobID || num(env.Data["participants_count"]) != 2 {
		t.Fatalf("alice: got %s, want bob joined, 2 participants", env.raw)
	}

	api := loopbackAPI(t)
	pa := newCallPeer(t, api, alice, aliceID, bobID, room)
	pb := newCallPeer(t, api, bob, bobID, aliceID, room)
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		alice.conn.Close()
		bob.conn.Close()
		wg.Wait()
	})
	wg.Go(func() { pa.readSignals(done) })
	wg.Go(func() { pb.readSignals(done) })

	// alice, in the room, offers to the newcomer bob, whose arrival
	// VIDEO_PARTICIPANT_JOINED told her; the data channel is hers.
	dc, err := pa.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() {
		if err := dc.SendText("ping from alice"); err != nil {
			t.Errorf("alice: data channel send: %v", err)
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) { pa.gotMessage <- string(m.Data) })
	offer, err := pa.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	pa.signal("SDP_OFFER", "sdp", offer)

	waitFor(t, "ICE connected at alice", pa.iceConnected)
	waitFor(t, "ICE connected at bob", pb.iceConnected)
	waitFor(t, "DTLS connected at alice", pa.connected)
	waitFor(t, "DTLS connected at bob", pb.connected)

	if got := waitFor(t, "data-channel message at bob", pb.gotMessage); got != "ping from alice" {
		t.Errorf("bob's data channel got %q, want %q", got, "ping from alice")
	}
	if got := waitFor(t, "data-channel message at alice", pa.gotMessage); got != "pong from bob" {
		t.Errorf("alice's data channel got %q, want %q", got, "pong from bob")
	}

	stop := make(chan struct{})
	wg.Go(func() { pa.sendRTP(stop) })
	wg.Go(func() { pb.sendRTP(stop) })
	waitFor(t, "RTP at alice (from bob)", pa.gotRTP)
	waitFor(t, "RTP at bob (from alice)", pb.gotRTP)
	close(stop)

	for _, p := range []*callPeer{pa, pb} {
		pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Errorf("%s: no selected candidate pair (%v)", p.name, err)
			continue
		}
		t.Logf("%s: selected pair %s:%d ↔ %s:%d", p.name, pair.Local.Address, pair.Local.Port, pair.Remote.Address, pair.Remote.Port)
	}
}

// skipUntil reads envelopes until one of action arrives.
func skipUntil(t *testing.T, cl *client, action string) envelope {
	t.Helper()
	for range 50 {
		if env := cl.next(); env.Action == action {
			return env
		}
	}
	t.Fatalf("%s: no %s in 50 envelopes", cl.name, action)
	return envelope{}
}
