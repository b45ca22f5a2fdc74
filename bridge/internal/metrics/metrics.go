// Package metrics holds the bridge's Prometheus metrics, in a registry of
// its own (never the global one), served on /metrics.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard.dev/bridge/internal/pool"
)

// Reasons of bridge_session_errors_total.
const (
	ReasonPoolFull        = "pool_full"
	ReasonStartFailed     = "start_failed"
	ReasonProvisionFailed = "provision_failed"
	ReasonNodeLost        = "node_lost"
	ReasonSessionEnded    = "session_ended"
	ReasonOfferRefused    = "offer_refused"
)

// Results of bridge_auth_total.
const (
	AuthOK          = "ok"
	AuthInvalid     = "invalid"
	AuthTimeout     = "timeout"
	AuthUnavailable = "unavailable"
	AuthRevoked     = "revoked"
)

// Metrics are the bridge's metrics.
type Metrics struct {
	registry *prometheus.Registry

	// Nodes counts the pool's nodes by state.
	Nodes *prometheus.GaugeVec
	// Transitions counts the nodes' state changes.
	Transitions *prometheus.CounterVec
	// ProvisionSeconds observes how long a node took to become ready, by
	// kind (provision, start).
	ProvisionSeconds *prometheus.HistogramVec
	// Connections counts the authenticated WebSocket connections.
	Connections prometheus.Gauge
	// Sessions counts the open media sessions (answered offers).
	Sessions prometheus.Gauge
	// SessionStarts counts the media sessions that got their answer.
	SessionStarts prometheus.Counter
	// SessionErrors counts the session failures reported to clients, by
	// reason.
	SessionErrors *prometheus.CounterVec
	// Auth counts the credential checks by result.
	Auth *prometheus.CounterVec
	// RevocationStream is 1 while the auth service's revocation stream is
	// open: revoked keys end their sessions only then.
	RevocationStream prometheus.Gauge
}

// New returns the metrics, registered in a new registry with the Go and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		Nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bridge_nodes", Help: "Media nodes in the pool, by state.",
		}, []string{"state"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_node_transitions_total", Help: "State changes of the media nodes (none: added or removed).",
		}, []string{"from", "to"}),
		ProvisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bridge_node_provision_seconds",
			Help:    "Time for a media node to become ready: provision (a new node) or start (a stopped node).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10 ms to about 80 s
		}, []string{"kind"}),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bridge_connections", Help: "Authenticated WebSocket connections.",
		}),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bridge_sessions", Help: "Open media sessions (offers answered by a node).",
		}),
		SessionStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bridge_session_starts_total", Help: "Media sessions opened (offers answered by a node).",
		}),
		SessionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_session_errors_total", Help: "Session failures reported to clients, by reason.",
		}, []string{"reason"}),
		Auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridge_auth_total", Help: "Credential checks by result (ok, invalid, timeout, unavailable, revoked).",
		}, []string{"result"}),
		RevocationStream: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bridge_revocation_stream_up", Help: "1 while the auth service's revocation stream is open.",
		}),
	}
	for _, s := range pool.States() {
		m.Nodes.WithLabelValues(s.String())
	}
	for _, r := range []string{ReasonPoolFull, ReasonStartFailed, ReasonProvisionFailed, ReasonNodeLost, ReasonSessionEnded, ReasonOfferRefused} {
		m.SessionErrors.WithLabelValues(r)
	}
	for _, r := range []string{AuthOK, AuthInvalid, AuthTimeout, AuthUnavailable, AuthRevoked} {
		m.Auth.WithLabelValues(r)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Nodes, m.Transitions, m.ProvisionSeconds, m.Connections, m.Sessions, m.SessionStarts, m.SessionErrors, m.Auth, m.RevocationStream,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

var _ pool.Observer = (*Metrics)(nil)

// NodeState implements pool.Observer.
func (m *Metrics) NodeState(from, to pool.State) {
	if from != pool.StateNone {
		m.Nodes.WithLabelValues(from.String()).Dec()
	}
	if to != pool.StateNone {
		m.Nodes.WithLabelValues(to.String()).Inc()
	}
	m.Transitions.WithLabelValues(from.String(), to.String()).Inc()
}

// NodeStarted implements pool.Observer.
func (m *Metrics) NodeStarted(kind string, d time.Duration) {
	m.ProvisionSeconds.WithLabelValues(kind).Observe(d.Seconds())
}
