// Command loopback is a minimal client of the bridge, the walkthrough of
// docs/bridge.md: it authenticates with an API key, starts a session,
// sends an offer with a VP8 track and a data channel, trickles candidates,
// and reports when ICE connects, when the data channel echoes and when its
// media comes back from the node.
//
//	go run ./bridge/examples/loopback -url ws://127.0.0.1:8080/client -key sk_TEST01_...
//
// Its candidates, like the nodes', are on every interface but loopback by
// default; on a machine with loopback only, run the bridge with
// MEDIA_ICE_INTERFACES=lo and this with -interfaces lo.
//
// Its packets are not real VP8, only RTP the node sends back as they came.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	url := flag.String("url", "ws://127.0.0.1:8080/client", "the bridge's WebSocket URL")
	key := flag.String("key", os.Getenv("BRIDGE_API_KEY"), "API secret key sk_<ENV>_... (env BRIDGE_API_KEY)")
	ifaces := flag.String("interfaces", "", "network interfaces of the ICE candidates, comma-separated, loopback included when set (e.g. lo); empty: all but loopback, like the nodes by default")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, *url, *key, *ifaces); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

// message is a message of the bridge's protocol, both ways.
type message struct {
	Type      string                   `json:"type"`
	Payload   map[string]string        `json:"payload,omitempty"`
	Status    string                   `json:"status,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Message   string                   `json:"message,omitempty"`
}

func run(ctx context.Context, url, key, ifaces string) error {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("dial %s: %w", url, err)
	}
	defer ws.CloseNow()
	send := func(m message) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		fmt.Printf("-> %.120s\n", b)
		return ws.Write(ctx, websocket.MessageText, b)
	}
	msgs := make(chan message)
	readErr := make(chan error, 1)
	go func() { // ends when the connection closes
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				readErr <- err
				return
			}
			fmt.Printf("<- %.120s\n", data)
			var m message
			if err := json.Unmarshal(data, &m); err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	if err := send(message{Type: "CREDENTIAL", Payload: map[string]string{"credential": key}}); err != nil {
		return err
	}
	select {
	case m := <-msgs:
		if m.Type != "auth_success" {
			return fmt.Errorf("after CREDENTIAL: %+v", m)
		}
	case err := <-readErr:
		return fmt.Errorf("authentication refused (%w)", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	p, err := newPeer(ifaces)
	if err != nil {
		return err
	}
	defer p.pc.Close()
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	if err := send(message{Type: "session_start"}); err != nil {
		return err
	}
	if err := send(message{Type: "offer", SDP: offer.SDP}); err != nil {
		return err
	}

	var (
		remoteSet               bool
		queued                  []webrtc.ICECandidateInit
		connected, echoed, back bool
		conn, open              = p.connected, p.open
		seq                     uint16
	)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !(connected && echoed && back) {
		select {
		case m := <-msgs:
			switch m.Type {
			case "error":
				return fmt.Errorf("bridge error: %s", m.Message)
			case "answer":
				if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
					return err
				}
				remoteSet = true
				for _, c := range queued {
					if err := p.pc.AddICECandidate(c); err != nil {
						return err
					}
				}
				queued = nil
			case "candidate":
				if m.Candidate == nil {
					continue
				}
				if !remoteSet { // a candidate may come before the answer
					queued = append(queued, *m.Candidate)
				} else if err := p.pc.AddICECandidate(*m.Candidate); err != nil {
					return err
				}
			}
		case c := <-p.local:
			if err := send(message{Type: "candidate", Candidate: &c}); err != nil {
				return err
			}
		case <-conn:
			connected, conn = true, nil
			fmt.Println("ICE connected")
		case <-open:
			open = nil
			if err := p.dc.SendText("hello bridge"); err != nil {
				return err
			}
		case e := <-p.echoes:
			echoed = true
			fmt.Printf("data channel echo: %q\n", e)
		case <-p.media:
			back = true
			fmt.Println("media came back from the node")
		case <-tick.C:
			if connected {
				seq++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: []byte("loopback")}
				if err := p.track.WriteRTP(pkt); err != nil {
					return err
				}
			}
		case err := <-readErr:
			return fmt.Errorf("connection closed: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("connected %v, echoed %v, media back %v: %w", connected, echoed, back, ctx.Err())
		}
	}
	fmt.Println("ok: ICE, DTLS, data channel echo and media loopback all work")
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

type peer struct {
	pc              *webrtc.PeerConnection
	track           *webrtc.TrackLocalStaticRTP
	dc              *webrtc.DataChannel
	connected, open chan struct{}
	echoes          chan string
	media           chan struct{}
	local           chan webrtc.ICECandidateInit
}

func newPeer(ifaces string) (*peer, error) {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if ifaces != "" {
		allowed := strings.Split(ifaces, ",")
		se.SetInterfaceFilter(func(name string) bool {
			for _, a := range allowed {
				if a == name {
					return true
				}
			}
			return false
		})
		se.SetIncludeLoopbackCandidate(true)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &peer{pc: pc, connected: make(chan struct{}), open: make(chan struct{}), echoes: make(chan string, 1),
		media: make(chan struct{}, 1), local: make(chan webrtc.ICECandidateInit, 64)}
	if p.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "loopback"); err != nil {
		return nil, err
	}
	if _, err := pc.AddTrack(p.track); err != nil {
		return nil, err
	}
	if p.dc, err = pc.CreateDataChannel("echo", nil); err != nil {
		return nil, err
	}
	p.dc.OnOpen(func() { close(p.open) })
	p.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case p.echoes <- string(m.Data):
		default:
		}
	})
	connectedOnce := make(chan struct{}, 1)
	connectedOnce <- struct{}{}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			select {
			case <-connectedOnce:
				close(p.connected)
			default:
			}
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.local <- c.ToJSON()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if bytes.Equal(pkt.Payload, []byte("loopback")) {
				select {
				case p.media <- struct{}{}:
				default:
				}
			}
		}
	})
	return p, nil
}
