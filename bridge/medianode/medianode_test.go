package medianode_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
	"switchboard.dev/bridge/medianode"
	"switchboard.dev/platform/envflag"
)

const waitFor = 30 * time.Second

func TestICEConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      medianode.ICEConfig
		wantErr  bool
		wantArgs []string
	}{
		{"zero", medianode.ICEConfig{}, false, nil},
		{"everything", medianode.ICEConfig{Interfaces: []string{"lo", "eth0"}, UDPPortMin: 50000, UDPPortMax: 50100, NAT1To1IPs: []string{"203.0.113.7", "198.51.100.1/10.0.0.7"}}, false,
			[]string{"-media-ice-interfaces=lo,eth0", "-media-udp-port-min=50000", "-media-udp-port-max=50100", "-media-nat-1to1-ips=203.0.113.7,198.51.100.1/10.0.0.7"}},
		{"min only", medianode.ICEConfig{UDPPortMin: 50000}, true, nil},
		{"min above max", medianode.ICEConfig{UDPPortMin: 50001, UDPPortMax: 50000}, true, nil},
		{"max out of range", medianode.ICEConfig{UDPPortMin: 1, UDPPortMax: 70000}, true, nil},
		{"bad nat ip", medianode.ICEConfig{NAT1To1IPs: []string{"public"}}, true, nil},
		{"bad nat local ip", medianode.ICEConfig{NAT1To1IPs: []string{"203.0.113.7/local"}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%+v.Validate() = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if _, err := tt.cfg.NewAPI(nil); (err != nil) != tt.wantErr {
				t.Errorf("%+v.NewAPI() = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got := tt.cfg.Args(); !slices.Equal(got, tt.wantArgs) {
				t.Errorf("%+v.Args() = %v, want %v", tt.cfg, got, tt.wantArgs)
			}
			// The flags a process gets give it the same configuration.
			var back medianode.Config
			s := envflag.New("test", io.Discard, func(string) string { return "" })
			back.RegisterFlags(s)
			if err := s.Parse(tt.cfg.Args()); err != nil {
				t.Fatalf("Parse(%v): %v", tt.cfg.Args(), err)
			}
			if !slices.Equal(back.ICE.Interfaces, tt.cfg.Interfaces) || back.ICE.UDPPortMin != tt.cfg.UDPPortMin ||
				back.ICE.UDPPortMax != tt.cfg.UDPPortMax || !slices.Equal(back.ICE.NAT1To1IPs, tt.cfg.NAT1To1IPs) {
				t.Errorf("Parse(%v) = %+v, want %+v", tt.cfg.Args(), back.ICE, tt.cfg)
			}
		})
	}
}

func TestRegisterFlagsEnvironment(t *testing.T) {
	env := map[string]string{"MEDIA_ADDR": "127.0.0.1:1", "MEDIA_MAX_SESSIONS": "3", "MEDIA_ICE_INTERFACES": "lo",
		"MEDIA_UDP_PORT_MIN": "40000", "MEDIA_UDP_PORT_MAX": "40010", "MEDIA_NAT_1TO1_IPS": "203.0.113.7"}
	var c medianode.Config
	s := envflag.New("test", io.Discard, func(k string) string { return env[k] })
	c.RegisterFlags(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := medianode.Config{Addr: "127.0.0.1:1", MaxSessions: 3, ICE: medianode.ICEConfig{Interfaces: []string{"lo"}, UDPPortMin: 40000, UDPPortMax: 40010, NAT1To1IPs: []string{"203.0.113.7"}}}
	if c.Addr != want.Addr || c.MaxSessions != want.MaxSessions || !slices.Equal(c.ICE.Interfaces, want.ICE.Interfaces) ||
		c.ICE.UDPPortMin != want.ICE.UDPPortMin || c.ICE.UDPPortMax != want.ICE.UDPPortMax || !slices.Equal(c.ICE.NAT1To1IPs, want.ICE.NAT1To1IPs) {
		t.Errorf("RegisterFlags with env %v = %+v, want %+v", env, c, want)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []medianode.Config{
		{Addr: "127.0.0.1:0", MaxSessions: -1},
		{Addr: "127.0.0.1:0", ICE: medianode.ICEConfig{UDPPortMin: 2, UDPPortMax: 1}},
	} {
		if err := medianode.Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", cfg)
		}
	}
}

// startNode runs a node on loopback until the test ends.
func startNode(t *testing.T, cfg medianode.Config) mediav1.MediaNodeServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = lis
	cfg.ICE.Interfaces = []string{"lo"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- medianode.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return mediav1.NewMediaNodeServiceClient(cc)
}

// offerSDP is a real offer with a data channel.
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("echo", nil); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

func offer(sdp string) *mediav1.SessionRequest {
	return &mediav1.SessionRequest{Message: &mediav1.SessionRequest_Offer{Offer: &mediav1.Offer{Sdp: sdp}}}
}

// refusal returns the code and ErrorInfo reason of err.
func refusal(err error) (codes.Code, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason()
		}
	}
	return st.Code(), ""
}

func TestSessionRefusals(t *testing.T) {
	cli := startNode(t, medianode.Config{MaxSessions: 1})
	valid := offerSDP(t)
	cand := &mediav1.SessionRequest{Message: &mediav1.SessionRequest_Candidate{Candidate: &mediav1.Candidate{Candidate: "candidate:x"}}}
	tests := []struct {
		name       string
		msgs       []*mediav1.SessionRequest
		wantCode   codes.Code
		wantReason mediav1.ErrorReason
	}{
		{"candidate first", []*mediav1.SessionRequest{cand}, codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_PROTOCOL},
		{"empty offer", []*mediav1.SessionRequest{offer("")}, codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER},
		{"not an SDP", []*mediav1.SessionRequest{offer("hello")}, codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER},
		{"too large", []*mediav1.SessionRequest{offer(strings.Repeat("a", 300<<10))}, codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER},
		{"second offer", []*mediav1.SessionRequest{offer(valid), offer(valid)}, codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_PROTOCOL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			stream, err := cli.Session(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				if err := stream.Send(m); err != nil {
					break // the node already refused: Recv tells why
				}
			}
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
			}
			code, reason := refusal(err)
			if code != tt.wantCode || reason != tt.wantReason.String() {
				t.Errorf("Session(%s) ended with %v, want %v with reason %v", tt.name, err, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestSessionSlotsAndStatus(t *testing.T) {
	cli := startNode(t, medianode.Config{MaxSessions: 1, NodeID: "node-test"})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	first, err := cli.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Send(offer(offerSDP(t))); err != nil {
		t.Fatal(err)
	}
	resp, err := first.Recv()
	if err != nil || resp.GetAnswer().GetSdp() == "" || resp.GetAnswer().GetSessionId() == "" {
		t.Fatalf("Session first response = %v, %v; want an answer", resp, err)
	}
	st, err := cli.GetStatus(ctx, &mediav1.GetStatusRequest{})
	if err != nil || st.GetNodeId() != "node-test" || st.GetMaxSessions() != 1 || st.GetActiveSessions() != 1 {
		t.Errorf("GetStatus = %v, %v; want node-test with 1 of 1 sessions", st, err)
	}

	second, err := cli.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Send(offer(offerSDP(t))); err != nil {
		t.Fatal(err)
	}
	_, err = second.Recv()
	if code, reason := refusal(err); code != codes.ResourceExhausted || reason != mediav1.ErrorReason_ERROR_REASON_NODE_FULL.String() {
		t.Errorf("second Session on a full node = %v, want RESOURCE_EXHAUSTED NODE_FULL", err)
	}

	// Closing the stream frees the slot.
	if err := first.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := first.Recv(); err != nil {
			break
		}
	}
	deadline := time.Now().Add(waitFor)
	for {
		st, err := cli.GetStatus(ctx, &mediav1.GetStatusRequest{})
		if err == nil && st.GetActiveSessions() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetStatus = %v, %v after the stream closed, want 0 active sessions", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
