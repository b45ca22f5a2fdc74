package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// The sessions' messages go to chat on one SendMessages stream: a message
// costs its share of a batch, not a gRPC call of its own. The sender sends
// at once what the sessions give it while the stream has room, and batches
// what comes while earlier batches are being stored, so that a busy edge
// sends few, large batches and an idle one sends each message alone.

// Bounds of the stream.
const (
	// maxSendBatch is the most messages in one batch: the contract's
	// bound of a SendMessages batch.
	maxSendBatch = 1000
	// maxSendInFlight is the most batches sent and not yet answered.
	maxSendInFlight = 8
	// sendQueue is the most requests waiting for the stream.
	sendQueue = 4096
)

// errSenderStopped fails what is still queued when the edge stops.
var errSenderStopped = status.Error(codes.Unavailable, "edge stopping")

// sendJob is one request's messages (a SEND_MESSAGE, or a client
// BATCH_MESSAGES' items) and, once done is closed, their results.
type sendJob struct {
	ctx     context.Context
	items   []*chatv1.SendMessageRequest
	results []*chatv1.SendMessageResult
	err     error // a status for every item
	done    chan struct{}
}

func (j *sendJob) finish(results []*chatv1.SendMessageResult, err error) {
	j.results, j.err = results, err
	close(j.done)
}

// sender owns the edge's SendMessages stream.
type sender struct {
	chat  chatv1.ChatServiceClient
	log   *slog.Logger
	queue chan *sendJob
}

func newSender(chat chatv1.ChatServiceClient, log *slog.Logger) *sender {
	return &sender{chat: chat, log: log, queue: make(chan *sendJob, sendQueue)}
}

// send stores items through the stream and returns one result per item,
// or an error (a status) for all of them. Like a unary call that fails, an
// error that comes after the batch was sent leaves unknown whether the
// items were stored.
func (s *sender) send(ctx context.Context, items []*chatv1.SendMessageRequest) ([]*chatv1.SendMessageResult, error) {
	j := &sendJob{ctx: ctx, items: items, done: make(chan struct{})}
	select {
	case s.queue <- j:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	select {
	case <-j.done:
		return j.results, j.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// run keeps a stream open until ctx is done, reopening it with backoff
// when it breaks; then it fails what is still queued.
func (s *sender) run(ctx context.Context) {
	delay := 50 * time.Millisecond
	var carry *sendJob // taken off the queue, not sent yet
	for ctx.Err() == nil {
		opened := time.Now()
		var err error
		carry, err = s.stream(ctx, carry)
		if ctx.Err() != nil {
			break
		}
		if time.Since(opened) > 10*time.Second {
			delay = 50 * time.Millisecond
		}
		s.log.Warn("chat SendMessages stream lost; reopening", "err", err, "backoff", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, 2*time.Second)
	}
	if carry != nil {
		carry.finish(nil, errSenderStopped)
	}
	for {
		select {
		case j := <-s.queue:
			j.finish(nil, errSenderStopped)
		default:
			return
		}
	}
}

// stream runs one stream until it breaks or ctx is done, starting with
// first when it is not nil, and returns the job it took off the queue but
// could not send.
func (s *sender) stream(ctx context.Context, first *sendJob) (*sendJob, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.chat.SendMessages(sctx)
	if err != nil {
		return first, err
	}
	var (
		mu       sync.Mutex
		inFlight = map[uint64][]*sendJob{}
	)
	slots := make(chan struct{}, maxSendInFlight)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			mu.Lock()
			jobs := inFlight[resp.GetId()]
			delete(inFlight, resp.GetId())
			mu.Unlock()
			if jobs == nil {
				if sctx.Err() == nil { // else failed with the stream already
					s.log.Error("chat answered a batch the edge did not send", "batch", resp.GetId())
				}
				continue
			}
			answer(jobs, resp)
			<-slots
		}
	}()
	// fail ends the stream: what it sent is answered Unavailable (it may or
	// may not have been stored), what it had not sent goes to the next.
	fail := func(carry *sendJob, err error) (*sendJob, error) {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		lost := status.Error(codes.Unavailable, "chat stream lost")
		for id, jobs := range inFlight {
			for _, j := range jobs {
				j.finish(nil, lost)
			}
			delete(inFlight, id)
		}
		return carry, err
	}
	next := first
	var id uint64
	for {
		select {
		case slots <- struct{}{}:
		case err := <-recvErr:
			return fail(next, err)
		case <-ctx.Done():
			return fail(next, ctx.Err())
		}
		if next == nil {
			select {
			case next = <-s.queue:
			case err := <-recvErr:
				return fail(nil, err)
			case <-ctx.Done():
				return fail(nil, ctx.Err())
			}
		}
		var jobs []*sendJob
		var items []*chatv1.SendMessageRequest
		for next != nil && len(items)+len(next.items) <= maxSendBatch {
			if next.ctx.Err() != nil {
				// Given up on while queued: not sent at all.
				next.finish(nil, status.FromContextError(next.ctx.Err()).Err())
			} else {
				jobs = append(jobs, next)
				items = append(items, next.items...)
			}
			select {
			case next = <-s.queue:
			default:
				next = nil
			}
		}
		if len(jobs) == 0 {
			<-slots
			continue
		}
		id++
		mu.Lock()
		inFlight[id] = jobs
		mu.Unlock()
		if err := st.Send(&chatv1.SendMessagesRequest{Id: id, Items: items}); err != nil {
			return fail(next, err)
		}
	}
}

// answer hands a batch's response to the jobs it carried, in order.
func answer(jobs []*sendJob, resp *chatv1.SendMessagesResponse) {
	if code := codes.Code(resp.GetCode()); code != codes.OK {
		err := status.Error(code, resp.GetMessage())
		for _, j := range jobs {
			j.finish(nil, err)
		}
		return
	}
	results := resp.GetResults()
	for _, j := range jobs {
		if len(results) < len(j.items) {
			j.finish(nil, status.Error(codes.Internal, "chat answered fewer results than messages"))
			continue
		}
		j.finish(results[:len(j.items):len(j.items)], nil)
		results = results[len(j.items):]
	}
}
