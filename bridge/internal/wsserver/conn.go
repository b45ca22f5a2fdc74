package wsserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/coder/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
	"switchboard.dev/bridge/internal/metrics"
	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/protocol"
)

// conn is an authenticated connection. Its session state is owned by the
// goroutine of run; the reader and the node stream's goroutines talk to it
// over channels.
type conn struct {
	s   *Server
	ws  *websocket.Conn
	log *slog.Logger

	in      chan frame
	readErr chan error
	events  chan nodeEvent
	wg      sync.WaitGroup // the node streams' goroutines

	lease   *pool.Lease
	pending <-chan struct{} // the lease's Ready while its node is made ready
	offered bool
	offer   string
	queued  []*mediav1.Candidate // client candidates before the node stream
	media   *mediaSession
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

// mediaSession is the Session stream to the node.
type mediaSession struct {
	cancel   context.CancelFunc
	send     chan *mediav1.SessionRequest
	answered bool
}

// nodeEvent is a message of a node stream, or its end (err set).
type nodeEvent struct {
	m    *mediaSession
	resp *mediav1.SessionResponse
	err  error
}

// read passes the client's messages to run until the connection fails or
// stop is closed.
func (c *conn) read(stop <-chan struct{}) {
	for {
		// The connection's end (close frame, CloseNow) ends the read.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.readErr <- err
			return
		}
		select {
		case c.in <- frame{typ: typ, data: data}:
		case <-stop:
			return
		}
	}
}

// run serves the session protocol until the client leaves, a write fails
// or ctx ends; then it closes the node stream and frees the node's slot.
func (c *conn) run(ctx context.Context) error {
	defer c.wg.Wait()
	defer c.endSession()
	for {
		var lost <-chan struct{}
		if c.lease != nil && c.pending == nil {
			lost = c.lease.Lost()
		}
		var err error
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err = <-c.readErr:
			return err
		case f := <-c.in:
			err = c.handle(ctx, f)
		case <-c.pending:
			err = c.nodeReady(ctx)
		case <-lost:
			err = c.fail(ctx, protocol.ErrNodeLost, metrics.ReasonNodeLost)
		case ev := <-c.events:
			err = c.nodeEvent(ctx, ev)
		}
		if err != nil {
			return err
		}
	}
}

func (c *conn) handle(ctx context.Context, f frame) error {
	if f.typ != websocket.MessageText {
		return c.sendError(ctx, protocol.ErrMalformed)
	}
	m, err := protocol.Decode(f.data)
	switch {
	case errors.Is(err, protocol.ErrBadType):
		return c.sendError(ctx, protocol.ErrUnknownType)
	case err != nil:
		return c.sendError(ctx, protocol.ErrMalformed)
	}
	switch m.Type {
	case protocol.TypeCredential:
		return c.sendError(ctx, protocol.ErrAlreadyAuthed)
	case protocol.TypeSessionStart:
		return c.sessionStart(ctx)
	case protocol.TypeOffer:
		return c.handleOffer(ctx, m.SDP)
	case protocol.TypeCandidate:
		return c.candidate(ctx, m.Candidate)
	}
	return nil
}

// acquire takes a slot for the session. It returns pool.ErrFull when the
// pool has none, or another error of the pool.
func (c *conn) acquire() error {
	lease, err := c.s.opts.Pool.Acquire()
	if err != nil {
		return err
	}
	c.lease = lease
	if lease.Status() == pool.Pending {
		c.pending = lease.Ready()
	}
	return nil
}

// sessionStart takes a slot and tells the state of its node.
func (c *conn) sessionStart(ctx context.Context) error {
	if c.lease != nil || c.media != nil {
		return c.sendError(ctx, protocol.ErrSessionStarted)
	}
	switch err := c.acquire(); {
	case errors.Is(err, pool.ErrFull):
		return c.nodeStatus(ctx, protocol.StatusFull)
	case err != nil:
		return c.sendError(ctx, protocol.ErrUnavailable)
	case c.pending != nil:
		return c.nodeStatus(ctx, protocol.StatusPending)
	}
	return c.nodeStatus(ctx, protocol.StatusWaiting)
}

// handleOffer takes a slot when the session has none, then sends the
// offer to the node, or keeps it until the node is ready.
func (c *conn) handleOffer(ctx context.Context, sdp string) error {
	if len(sdp) > c.s.opts.MaxSDPBytes {
		return c.sendError(ctx, protocol.ErrOfferTooLarge)
	}
	if c.offered {
		return c.sendError(ctx, protocol.ErrOfferSent)
	}
	if c.lease == nil {
		switch err := c.acquire(); {
		case errors.Is(err, pool.ErrFull):
			c.s.opts.Metrics.SessionErrors.WithLabelValues(metrics.ReasonPoolFull).Inc()
			return c.sendError(ctx, protocol.ErrPoolFull)
		case err != nil:
			return c.sendError(ctx, protocol.ErrUnavailable)
		}
	}
	c.offered, c.offer = true, sdp
	if c.pending != nil {
		return c.write(ctx, protocol.Message{Type: protocol.TypeServerProvisioning})
	}
	return c.openMedia(ctx)
}

// candidate forwards a client candidate to the node, or queues it until
// the node stream is open (the node needs the offer first).
func (c *conn) candidate(ctx context.Context, pc *protocol.Candidate) error {
	mc := &mediav1.Candidate{Candidate: pc.Candidate, SdpMid: pc.SDPMid, UsernameFragment: pc.UsernameFragment}
	if pc.SDPMLineIndex != nil {
		i := uint32(*pc.SDPMLineIndex)
		mc.SdpMlineIndex = &i
	}
	if c.media != nil {
		select {
		case c.media.send <- &mediav1.SessionRequest{Message: &mediav1.SessionRequest_Candidate{Candidate: mc}}:
			return nil
		default:
			return c.sendError(ctx, protocol.ErrTooManyCandidates)
		}
	}
	if len(c.queued) >= c.s.opts.MaxCandidates {
		return c.sendError(ctx, protocol.ErrTooManyCandidates)
	}
	c.queued = append(c.queued, mc)
	return nil
}

// nodeReady handles the end of the lease's provisioning or start.
func (c *conn) nodeReady(ctx context.Context) error {
	c.pending = nil
	if _, err := c.lease.Client(); err != nil {
		text, reason := poolFailure(err)
		return c.fail(ctx, text, reason)
	}
	if err := c.nodeStatus(ctx, protocol.StatusWaiting); err != nil {
		return err
	}
	if c.offered {
		return c.openMedia(ctx)
	}
	return nil
}

func poolFailure(err error) (text, reason string) {
	switch {
	case errors.Is(err, pool.ErrStartFailed):
		return protocol.ErrStartFailed, metrics.ReasonStartFailed
	case errors.Is(err, pool.ErrProvisionFailed):
		return protocol.ErrProvisionFailed, metrics.ReasonProvisionFailed
	default:
		return protocol.ErrNodeLost, metrics.ReasonNodeLost
	}
}

// openMedia opens the Session stream to the lease's node with the offer
// and the queued candidates.
func (c *conn) openMedia(ctx context.Context) error {
	cli, err := c.lease.Client()
	if err != nil {
		text, reason := poolFailure(err)
		return c.fail(ctx, text, reason)
	}
	// The stream lives as long as the session: no deadline.
	mctx, cancel := context.WithCancel(ctx)
	stream, err := cli.Session(mctx)
	if err != nil {
		cancel()
		c.log.Warn("open media session", "node", c.lease.NodeID(), "err", err)
		return c.fail(ctx, protocol.ErrNodeLost, metrics.ReasonNodeLost)
	}
	m := &mediaSession{cancel: cancel, send: make(chan *mediav1.SessionRequest, c.s.opts.MaxCandidates+1)}
	m.send <- &mediav1.SessionRequest{Message: &mediav1.SessionRequest_Offer{Offer: &mediav1.Offer{Sdp: c.offer}}}
	for _, q := range c.queued {
		m.send <- &mediav1.SessionRequest{Message: &mediav1.SessionRequest_Candidate{Candidate: q}}
	}
	c.queued = nil
	c.media = m
	c.wg.Go(func() {
		for {
			select {
			case <-mctx.Done():
				return
			case req := <-m.send:
				if err := stream.Send(req); err != nil {
					return // Recv reports the stream's end
				}
			}
		}
	})
	c.wg.Go(func() {
		for {
			resp, err := stream.Recv()
			select {
			case c.events <- nodeEvent{m: m, resp: resp, err: err}:
			case <-mctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return nil
}

// nodeEvent relays the node's answer and candidates, and reports the
// stream's end.
func (c *conn) nodeEvent(ctx context.Context, ev nodeEvent) error {
	if ev.m != c.media {
		return nil // a stream this connection has already ended
	}
	if ev.err != nil {
		text, reason := streamFailure(ev.err)
		c.log.Info("media session ended", "node", c.lease.NodeID(), "err", ev.err)
		return c.fail(ctx, text, reason)
	}
	switch msg := ev.resp.GetMessage().(type) {
	case *mediav1.SessionResponse_Answer:
		if !c.media.answered {
			c.media.answered = true
			c.s.opts.Metrics.Sessions.Inc()
			c.s.opts.Metrics.SessionStarts.Inc()
			c.log.Info("media session open", "node", c.lease.NodeID(), "session_id", msg.Answer.GetSessionId())
		}
		return c.write(ctx, protocol.Message{Type: protocol.TypeAnswer, SDP: msg.Answer.GetSdp()})
	case *mediav1.SessionResponse_Candidate:
		mc := msg.Candidate
		pc := &protocol.Candidate{Candidate: mc.GetCandidate(), SDPMid: mc.SdpMid, UsernameFragment: mc.UsernameFragment}
		if mc.SdpMlineIndex != nil && mc.GetSdpMlineIndex() <= 0xffff {
			i := uint16(mc.GetSdpMlineIndex())
			pc.SDPMLineIndex = &i
		}
		return c.write(ctx, protocol.Message{Type: protocol.TypeCandidate, Candidate: pc})
	case *mediav1.SessionResponse_State:
		c.log.Debug("media session state", "node", c.lease.NodeID(), "state", msg.State.GetState())
	}
	return nil
}

func streamFailure(err error) (text, reason string) {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		return protocol.ErrPoolFull, metrics.ReasonPoolFull
	case codes.InvalidArgument:
		return protocol.ErrOfferRefused, metrics.ReasonOfferRefused
	case codes.Unavailable:
		return protocol.ErrNodeLost, metrics.ReasonNodeLost
	default:
		return protocol.ErrSessionEnded, metrics.ReasonSessionEnded
	}
}

// fail ends the session, frees its slot and reports text to the client,
// whose connection stays open for a new session.
func (c *conn) fail(ctx context.Context, text, reason string) error {
	c.endSession()
	c.s.opts.Metrics.SessionErrors.WithLabelValues(reason).Inc()
	return c.sendError(ctx, text)
}

// endSession closes the node stream, which closes the node's peer
// connection, and frees the slot.
func (c *conn) endSession() {
	if c.media != nil {
		c.media.cancel()
		if c.media.answered {
			c.s.opts.Metrics.Sessions.Dec()
		}
		c.media = nil
	}
	if c.lease != nil {
		c.lease.Release()
		c.lease = nil
	}
	c.pending = nil
	c.offered, c.offer = false, ""
	c.queued = nil
}

func (c *conn) nodeStatus(ctx context.Context, st string) error {
	return c.write(ctx, protocol.Message{Type: protocol.TypeNodeStatus, Status: st})
}

func (c *conn) sendError(ctx context.Context, text string) error {
	return c.write(ctx, protocol.Message{Type: protocol.TypeError, Message: text})
}

// write sends m within WriteTimeout. A write cut by ctx would drop the
// connection without its close frame: the end of ctx ends run instead.
func (c *conn) write(ctx context.Context, m protocol.Message) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.opts.WriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, protocol.Encode(m))
}
