package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// writer is a minimal writer loop: it answers each write with its value's
// error and records the batch sizes.
func writer(q *Queue[error], gate <-chan struct{}, sizes *[]int) {
	defer q.Stopped()
	batch := make([]*Op[error], 0, 8)
	for {
		select {
		case o := <-q.Ops():
			if gate != nil {
				<-gate // hold the first write while others queue
			}
			batch = q.Fill(append(batch[:0], o))
			*sizes = append(*sizes, len(batch))
			for _, o := range batch {
				o.Err = o.Value
				o.Finish()
			}
		case <-q.Closing():
			return
		}
	}
}

func TestBatchesAndAnswers(t *testing.T) {
	q := New[error](8)
	gate := make(chan struct{})
	var sizes []int
	go writer(q, gate, &sizes)

	refused := errors.New("refused")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			var v error
			if i%2 == 1 {
				v = refused
			}
			errs[i] = q.Submit(ctx, v)
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; errors.Is(err, refused) != want || (!want && err != nil) {
			t.Errorf("Submit %d = %v, want refused %v", i, err, want)
		}
	}
	q.Close()
	total := 0
	for _, n := range sizes {
		if n > 8 {
			t.Errorf("batch of %d writes, want at most 8", n)
		}
		total += n
	}
	if total != 20 || len(sizes) >= 20 {
		t.Errorf("batches %v: want 20 writes in fewer than 20 batches", sizes)
	}
	if err := q.Submit(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	q.Close() // again: no panic, no wait
}

func TestQueuedWritesFailOnStop(t *testing.T) {
	q := New[error](4)
	done := make(chan error, 1)
	go func() { done <- q.Submit(context.Background(), nil) }()
	for q.Len() == 0 { // queued, no writer yet
		time.Sleep(time.Millisecond)
	}
	go func() { <-q.Closing(); q.Stopped() }() // a writer that stops at once
	q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Submit queued at stop = %v, want ErrClosed", err)
	}
}

func TestSubmitHonoursContext(t *testing.T) {
	q := New[error](1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.Submit(ctx, nil); !errors.Is(err, context.DeadlineExceeded) { // no writer answers
		t.Errorf("Submit without a writer = %v, want DeadlineExceeded", err)
	}
}

// TestServe checks the plain writer loop: every write is answered by the
// commit function, in batches of at most the queue's maximum, and Close
// stops it.
func TestServe(t *testing.T) {
	q := New[error](4)
	var (
		mu       sync.Mutex
		total    int
		tooLarge int
	)
	served := make(chan struct{})
	go func() {
		defer close(served)
		q.Serve(func(batch []*Op[error]) {
			mu.Lock()
			total += len(batch)
			if len(batch) > 4 {
				tooLarge++
			}
			mu.Unlock()
			for _, o := range batch {
				o.Err = o.Value
				o.Finish()
			}
		})
	}()
	refused := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() {
			var v error
			if i%3 == 0 {
				v = refused
			}
			errs[i] = q.Submit(context.Background(), v)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; errors.Is(err, refused) != want || (!want && err != nil) {
			t.Errorf("Submit %d = %v, want refused %v", i, err, want)
		}
	}
	mu.Lock()
	if total != len(errs) || tooLarge != 0 {
		t.Errorf("Serve committed %d writes (%d batches over 4), want %d in batches of at most 4", total, tooLarge, len(errs))
	}
	mu.Unlock()
	q.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5 s of Close")
	}
	if err := q.Submit(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}
