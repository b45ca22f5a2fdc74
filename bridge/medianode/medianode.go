// Package medianode is the reference media node of the bridge: a WebRTC
// endpoint served over gRPC as switchboard.media.v1 MediaNodeService (plus
// grpc.health.v1 and reflection). It answers a client's offer, trickles
// candidates, completes ICE and DTLS, echoes data-channel messages and
// sends the client's media back through an effect stage (effect.Identity
// unless Config.Effect is set).
//
// The bridge runs nodes in its own process (Run on 127.0.0.1:0) or as
// medianode processes; the bridge and the node speak gRPC only.
package medianode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"google.golang.org/grpc"

	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
	"switchboard.dev/bridge/effect"
	"switchboard.dev/bridge/internal/media"
	"switchboard.dev/platform/grpcserver"
)

// Defaults of Config.
const (
	// DefaultAddr is the gRPC address a node listens on without a Listener.
	DefaultAddr = "127.0.0.1:9110"
)

// AddrLinePrefix starts the line the medianode binary prints on its
// standard output once it listens, followed by the address: how a parent
// that started it on port 0 learns its port.
const AddrLinePrefix = "MEDIANODE_ADDR="

// ICEConfig is how a node's ICE agent gathers its candidates. The zero
// value gathers host candidates on every interface but loopback, on any
// UDP port.
type ICEConfig struct {
	// Interfaces, when set, limits the candidates to these network
	// interfaces and then includes loopback addresses (so that "lo" works
	// for tests and single-host setups).
	Interfaces []string
	// UDPPortMin and UDPPortMax bound the UDP ports of the candidates;
	// both 0 means any port, otherwise 1 <= UDPPortMin <= UDPPortMax.
	UDPPortMin, UDPPortMax int
	// NAT1To1IPs are the public addresses to announce instead of the host
	// addresses, behind a 1:1 NAT: "203.0.113.7", or "203.0.113.7/10.0.0.7"
	// to map one local address (pion's SetNAT1To1IPs with host candidates,
	// expressed as address rewrite rules).
	NAT1To1IPs []string
}

// Validate reports the first invalid setting.
func (c ICEConfig) Validate() error {
	_, err := c.rewriteRules()
	if err != nil {
		return err
	}
	if c.UDPPortMin == 0 && c.UDPPortMax == 0 {
		return nil
	}
	if c.UDPPortMin < 1 || c.UDPPortMax > 65535 || c.UDPPortMin > c.UDPPortMax {
		return fmt.Errorf("udp port range %d-%d: want 1 <= min <= max <= 65535 (or both 0)", c.UDPPortMin, c.UDPPortMax)
	}
	return nil
}

func (c ICEConfig) rewriteRules() ([]webrtc.ICEAddressRewriteRule, error) {
	var (
		rules    []webrtc.ICEAddressRewriteRule
		catchAll []string
	)
	for _, e := range c.NAT1To1IPs {
		ext, local, mapped := strings.Cut(e, "/")
		if net.ParseIP(ext) == nil || (mapped && net.ParseIP(local) == nil) {
			return nil, fmt.Errorf("nat 1:1 address %q: want IP or IP/localIP", e)
		}
		if !mapped {
			catchAll = append(catchAll, ext)
			continue
		}
		rules = append(rules, webrtc.ICEAddressRewriteRule{External: []string{ext}, Local: local, AsCandidateType: webrtc.ICECandidateTypeHost})
	}
	if len(catchAll) > 0 {
		rules = append(rules, webrtc.ICEAddressRewriteRule{External: catchAll, AsCandidateType: webrtc.ICECandidateTypeHost})
	}
	return rules, nil
}

// Args returns the flags that give a medianode process this configuration.
func (c ICEConfig) Args() []string {
	var args []string
	if len(c.Interfaces) > 0 {
		args = append(args, "-media-ice-interfaces="+strings.Join(c.Interfaces, ","))
	}
	if c.UDPPortMin != 0 || c.UDPPortMax != 0 {
		args = append(args, "-media-udp-port-min="+strconv.Itoa(c.UDPPortMin), "-media-udp-port-max="+strconv.Itoa(c.UDPPortMax))
	}
	if len(c.NAT1To1IPs) > 0 {
		args = append(args, "-media-nat-1to1-ips="+strings.Join(c.NAT1To1IPs, ","))
	}
	return args
}

// NewAPI returns the WebRTC API of a node with this configuration: the
// default codecs and interceptors (NACK, RTCP reports, TWCC), mDNS off (a
// server announces addresses, and cannot resolve the clients' .local
// names), and the candidates this configuration allows. log receives the
// WebRTC stack's records.
func (c ICEConfig) NewAPI(log *slog.Logger) (*webrtc.API, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: media.LoggerFactory(log)}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(c.Interfaces) > 0 {
		allowed := map[string]bool{}
		for _, name := range c.Interfaces {
			allowed[name] = true
		}
		se.SetInterfaceFilter(func(name string) bool { return allowed[name] })
		se.SetIncludeLoopbackCandidate(true)
	}
	if c.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(uint16(c.UDPPortMin), uint16(c.UDPPortMax)); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	rules, _ := c.rewriteRules() // validated above
	if len(rules) > 0 {
		if err := se.SetICEAddressRewriteRules(rules...); err != nil {
			return nil, fmt.Errorf("nat 1:1 addresses: %w", err)
		}
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// Config configures Run. Zero values mean the defaults.
type Config struct {
	// Listener, when set, is served instead of listening on Addr. Run
	// closes it.
	Listener net.Listener
	// Addr is the gRPC listen address; default DefaultAddr.
	Addr string
	// ICE is how candidates are gathered.
	ICE ICEConfig
	// MaxSessions bounds the node's open sessions (RESOURCE_EXHAUSTED
	// beyond); 0 means no limit of its own.
	MaxSessions int
	// Effect processes the media sent back; nil means effect.Identity.
	Effect effect.Effect
	// NodeID names the node in GetStatus and logs; default host-pid.
	NodeID string
	// Logger receives the node's records; nil discards them.
	Logger *slog.Logger
}

// Run serves a media node until ctx is done, then closes its sessions and
// shuts the server down. It returns nil after a shutdown caused by ctx and
// an error at once for a bad config.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Listener != nil {
		defer cfg.Listener.Close() // Serve closes it; this covers the early returns
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSessions < 0 {
		return errors.New("medianode: MaxSessions must not be negative")
	}
	api, err := cfg.ICE.NewAPI(log)
	if err != nil {
		return fmt.Errorf("medianode: %w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.NodeID == "" {
		host, _ := os.Hostname()
		cfg.NodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("medianode: %w", err)
	}
	log = log.With("node_id", cfg.NodeID)
	node := media.NewNode(media.Options{API: api, Effect: cfg.Effect, MaxSessions: cfg.MaxSessions, Logger: log})
	srv := media.NewServer(node, cfg.NodeID, log)
	// Closing the sessions before the drain ends their streams, which
	// GracefulStop would wait for.
	err = grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: node.CloseAll}, func(g *grpc.Server) {
		mediav1.RegisterMediaNodeServiceServer(g, srv)
	})
	node.CloseAll()
	if err != nil {
		return fmt.Errorf("medianode: %w", err)
	}
	return nil
}
