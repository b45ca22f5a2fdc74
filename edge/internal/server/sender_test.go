package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// streamChat is a chat service whose SendMessages the test steers: every
// batch is handed to the test on batches, which answers it through its
// stream (or breaks the stream).
type streamChat struct {
	chatv1.UnimplementedChatServiceServer
	batches chan streamBatch
}

type streamBatch struct {
	req    *chatv1.SendMessagesRequest
	stream chatv1.ChatService_SendMessagesServer
	broken chan error // a value ends the stream with it
}

func (c *streamChat) SendMessages(stream chatv1.ChatService_SendMessagesServer) error {
	broken := make(chan error, 1)
	reqs := make(chan *chatv1.SendMessagesRequest)
	go func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			reqs <- req
		}
	}()
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				return nil
			}
			c.batches <- streamBatch{req: req, stream: stream, broken: broken}
		case err := <-broken:
			return err
		}
	}
}

// answerAll stores every item: message id i+1 for item i.
func answerAll(b streamBatch) *chatv1.SendMessagesResponse {
	resp := &chatv1.SendMessagesResponse{Id: b.req.GetId()}
	for i, it := range b.req.GetItems() {
		resp.Results = append(resp.Results, &chatv1.SendMessageResult{Message: &chatv1.Message{Id: int64(i + 1), Content: it.GetContent()}})
	}
	return resp
}

func startSender(t *testing.T) (*sender, *streamChat) {
	t.Helper()
	chat := &streamChat{batches: make(chan streamBatch, 1000)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	chatv1.RegisterChatServiceServer(g, chat)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	s := newSender(chatv1.NewChatServiceClient(cc), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, chat
}

func item(content string) []*chatv1.SendMessageRequest {
	return []*chatv1.SendMessageRequest{{RoomId: 1, UserId: 1, Content: content}}
}

func nextBatch(t *testing.T, chat *streamChat) streamBatch {
	t.Helper()
	select {
	case b := <-chat.batches:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no batch reached chat in 5 s")
	}
	return streamBatch{}
}

// TestSenderBatchesWhileBusy sends one message, holds its batch, and sends
// 200 more meanwhile: they go in few batches, and each caller gets its own
// result.
func TestSenderBatchesWhileBusy(t *testing.T) {
	s, chat := startSender(t)
	ctx := context.Background()
	firstDone := make(chan error, 1)
	go func() {
		res, err := s.send(ctx, item("first"))
		if err == nil && res[0].GetMessage().GetContent() != "first" {
			err = fmt.Errorf("result %v", res)
		}
		firstDone <- err
	}()
	held := nextBatch(t, chat)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			content := fmt.Sprint("m", i)
			res, err := s.send(ctx, item(content))
			if err == nil && (len(res) != 1 || res[0].GetMessage().GetContent() != content) {
				err = fmt.Errorf("send(%s) = %v, want its own result", content, res)
			}
			errs <- err
		})
	}
	// The other batches are answered as they come; they are few because
	// the stream has up to maxSendInFlight batches out and the queue fills
	// meanwhile.
	batches, items := 0, 0
	go func() { wg.Wait(); close(errs) }()
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for items < n {
			b := <-chat.batches
			batches++
			items += len(b.req.GetItems())
			b.stream.Send(answerAll(b))
		}
	}()
	<-answered
	held.stream.Send(answerAll(held))
	if err := <-firstDone; err != nil {
		t.Errorf("first send: %v", err)
	}
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d messages in %d batches", n, batches)
	if batches >= n/2 {
		t.Errorf("%d messages sent in %d batches while the stream was busy, want them batched", n, batches)
	}
}

// TestSenderOutOfOrderAndRefusals answers batches out of order and fails
// one as a whole.
func TestSenderOutOfOrderAndRefusals(t *testing.T) {
	s, chat := startSender(t)
	ctx := context.Background()
	type result struct {
		res []*chatv1.SendMessageResult
		err error
	}
	a, b := make(chan result, 1), make(chan result, 1)
	go func() { r, err := s.send(ctx, item("a")); a <- result{r, err} }()
	ba := nextBatch(t, chat)
	go func() { r, err := s.send(ctx, item("b")); b <- result{r, err} }()
	bb := nextBatch(t, chat)
	bb.stream.Send(&chatv1.SendMessagesResponse{Id: bb.req.GetId(), Code: int32(codes.ResourceExhausted), Message: "slow down"})
	if r := <-b; status.Code(r.err) != codes.ResourceExhausted {
		t.Errorf("send(b) answered second with RESOURCE_EXHAUSTED = %v, %v", r.res, r.err)
	}
	ba.stream.Send(answerAll(ba))
	if r := <-a; r.err != nil || r.res[0].GetMessage().GetContent() != "a" {
		t.Errorf("send(a) answered last = %v, %v; want its message", r.res, r.err)
	}
}

// TestSenderStreamLost breaks the stream with a batch in flight: its
// caller gets UNAVAILABLE, and the next message goes on a new stream.
func TestSenderStreamLost(t *testing.T) {
	s, chat := startSender(t)
	ctx := context.Background()
	lost := make(chan error, 1)
	go func() { _, err := s.send(ctx, item("lost")); lost <- err }()
	b := nextBatch(t, chat)
	b.broken <- status.Error(codes.Unavailable, "chat stopping")
	if err := <-lost; status.Code(err) != codes.Unavailable {
		t.Errorf("send with its batch in flight when the stream broke = %v, want UNAVAILABLE", err)
	}
	next := make(chan error, 1)
	go func() { _, err := s.send(ctx, item("next")); next <- err }()
	b = nextBatch(t, chat)
	if got := b.req.GetItems()[0].GetContent(); got != "next" {
		t.Errorf("first batch of the new stream carries %q, want next", got)
	}
	b.stream.Send(answerAll(b))
	if err := <-next; err != nil {
		t.Errorf("send on the reopened stream = %v", err)
	}
}

// TestSenderDropsExpired does not send a message whose caller gave up
// while it was queued.
func TestSenderDropsExpired(t *testing.T) {
	s, chat := startSender(t)
	// Fill every slot so that the next messages wait in the queue.
	var held []streamBatch
	for i := range maxSendInFlight {
		go s.send(context.Background(), item(fmt.Sprint("slot", i)))
		held = append(held, nextBatch(t, chat))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.send(ctx, item("expired")); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("send that waited past its deadline = %v, want DEADLINE_EXCEEDED", err)
	}
	kept := make(chan error, 1)
	go func() { _, err := s.send(context.Background(), item("kept")); kept <- err }()
	time.Sleep(50 * time.Millisecond) // "kept" is queued behind "expired"
	held[0].stream.Send(answerAll(held[0]))
	b := nextBatch(t, chat)
	for _, it := range b.req.GetItems() {
		if it.GetContent() == "expired" {
			t.Errorf("a message given up on while queued was sent: batch %v", b.req.GetItems())
		}
	}
	b.stream.Send(answerAll(b))
	if err := <-kept; err != nil {
		t.Errorf("send(kept) = %v", err)
	}
	for _, h := range held[1:] {
		h.stream.Send(answerAll(h))
	}
}
