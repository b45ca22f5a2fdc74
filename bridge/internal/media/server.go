package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"

	"github.com/pion/webrtc/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
)

// Domain is the google.rpc.ErrorInfo domain of the node's refusals.
const Domain = "media.switchboard.dev"

// MaxOfferBytes bounds an offer's SDP. The bridge has a lower limit of
// its own; this one protects a node reachable by other callers.
const MaxOfferBytes = 256 << 10

// maxPending bounds the messages a session may have waiting to be sent to
// a slow caller: far more than the candidates and states of a session.
const maxPending = 256

// Server serves a Node as switchboard.media.v1.MediaNodeService.
type Server struct {
	mediav1.UnimplementedMediaNodeServiceServer

	node   *Node
	nodeID string
	log    *slog.Logger
}

var _ mediav1.MediaNodeServiceServer = (*Server)(nil)

// NewServer returns the service of node, named nodeID in GetStatus.
func NewServer(node *Node, nodeID string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{node: node, nodeID: nodeID, log: log}
}

// GetStatus implements mediav1.MediaNodeServiceServer.
func (s *Server) GetStatus(context.Context, *mediav1.GetStatusRequest) (*mediav1.GetStatusResponse, error) {
	return &mediav1.GetStatusResponse{
		NodeId:         s.nodeID,
		MaxSessions:    uint32(min(max(s.node.MaxSessions(), 0), math.MaxUint32)),
		ActiveSessions: uint32(s.node.Active()),
	}, nil
}

// Session implements mediav1.MediaNodeServiceServer: one peer connection
// for the life of the stream.
func (s *Server) Session(stream grpc.BidiStreamingServer[mediav1.SessionRequest, mediav1.SessionResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	offer := first.GetOffer()
	switch {
	case offer == nil:
		return refusal(codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_PROTOCOL, "the first message must be an offer")
	case offer.GetSdp() == "":
		return refusal(codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER, "the offer is empty")
	case len(offer.GetSdp()) > MaxOfferBytes:
		return refusal(codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER, "the offer is too large")
	}

	out := &outbox{notify: make(chan struct{}, 1)}
	sess, answer, err := s.node.Open(offer.GetSdp(), Events{Candidate: out.candidate, State: out.state})
	if err != nil {
		return s.toStatus(err)
	}
	defer sess.Close()
	if err := stream.Send(&mediav1.SessionResponse{Message: &mediav1.SessionResponse_Answer{
		Answer: &mediav1.Answer{SessionId: sess.ID(), Sdp: answer},
	}}); err != nil {
		return err
	}

	// The receiving goroutine ends when the stream does: Recv fails once
	// this handler has returned.
	received := make(chan error, 1)
	go func() { received <- s.receive(stream, sess) }()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-received:
			return err
		case <-out.notify:
			for _, m := range out.take() {
				if err := stream.Send(m); err != nil {
					return err
				}
				if st := m.GetState().GetState(); st == webrtc.PeerConnectionStateFailed.String() || st == webrtc.PeerConnectionStateClosed.String() {
					return refusal(codes.Aborted, mediav1.ErrorReason_ERROR_REASON_SESSION_FAILED, "the peer connection is "+st)
				}
			}
		}
	}
}

// receive adds the caller's candidates to sess until the caller closes its
// side (nil) or the stream breaks.
func (s *Server) receive(stream grpc.BidiStreamingServer[mediav1.SessionRequest, mediav1.SessionResponse], sess *Session) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		c := req.GetCandidate()
		if c == nil {
			return refusal(codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_PROTOCOL, "only candidates may follow the offer")
		}
		if c.GetCandidate() == "" {
			continue // the end of the client's candidates: nothing to do
		}
		init, ok := candidateInit(c)
		if !ok {
			s.log.Debug("candidate ignored: bad m-line index", "session_id", sess.ID())
			continue
		}
		if err := sess.AddCandidate(init); err != nil {
			// Browsers trickle candidates a given ICE agent cannot use;
			// they are no reason to end the session.
			s.log.Debug("candidate ignored", "session_id", sess.ID(), "err", err)
		}
	}
}

func (s *Server) toStatus(err error) error {
	switch {
	case errors.Is(err, ErrFull):
		return refusal(codes.ResourceExhausted, mediav1.ErrorReason_ERROR_REASON_NODE_FULL, "the node has no free session slot")
	case errors.Is(err, ErrInvalidOffer):
		return refusal(codes.InvalidArgument, mediav1.ErrorReason_ERROR_REASON_INVALID_OFFER, "the offer cannot be answered")
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, "the node is shutting down")
	default:
		s.log.Error("open media session", "err", err)
		return status.Error(codes.Internal, "internal error")
	}
}

// refusal is a status with an ErrorInfo whose reason is the ErrorReason name.
func refusal(code codes.Code, reason mediav1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// candidateInit converts a candidate of the contract to pion's; false when
// its m-line index is out of range.
func candidateInit(c *mediav1.Candidate) (webrtc.ICECandidateInit, bool) {
	init := webrtc.ICECandidateInit{Candidate: c.GetCandidate(), SDPMid: c.SdpMid, UsernameFragment: c.UsernameFragment}
	if c.SdpMlineIndex != nil {
		if c.GetSdpMlineIndex() > math.MaxUint16 {
			return init, false
		}
		i := uint16(c.GetSdpMlineIndex())
		init.SDPMLineIndex = &i
	}
	return init, true
}

// CandidateMessage converts pion's candidate to the contract's.
func CandidateMessage(c webrtc.ICECandidateInit) *mediav1.Candidate {
	m := &mediav1.Candidate{Candidate: c.Candidate, SdpMid: c.SDPMid, UsernameFragment: c.UsernameFragment}
	if c.SDPMLineIndex != nil {
		i := uint32(*c.SDPMLineIndex)
		m.SdpMlineIndex = &i
	}
	return m
}

// outbox queues what the WebRTC stack's callbacks produce for the stream,
// without blocking them.
type outbox struct {
	mu     sync.Mutex
	msgs   []*mediav1.SessionResponse
	notify chan struct{}
}

func (o *outbox) push(m *mediav1.SessionResponse) {
	o.mu.Lock()
	if len(o.msgs) < maxPending { // beyond it the caller is gone or stuck
		o.msgs = append(o.msgs, m)
	}
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

func (o *outbox) take() []*mediav1.SessionResponse {
	o.mu.Lock()
	defer o.mu.Unlock()
	msgs := o.msgs
	o.msgs = nil
	return msgs
}

func (o *outbox) candidate(c webrtc.ICECandidateInit) {
	o.push(&mediav1.SessionResponse{Message: &mediav1.SessionResponse_Candidate{Candidate: CandidateMessage(c)}})
}

func (o *outbox) state(st webrtc.PeerConnectionState) {
	o.push(&mediav1.SessionResponse{Message: &mediav1.SessionResponse_State{State: &mediav1.SessionState{State: st.String()}}})
}
