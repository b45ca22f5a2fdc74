package servicetest

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"
)

// recorder keeps what a fake received: a copy of every request by method,
// the calls that came without a deadline, and the errors FailWith set. The
// fakes embed it, so each has FailWith, Requests and CallsWithoutDeadline.
type recorder struct {
	mu         sync.Mutex
	requests   map[string][]proto.Message
	fail       map[string]error
	noDeadline int
}

// FailWith makes every later call of method (the RPC's name, such as
// "BanMember") record its request and return err; nil restores the fake's
// behaviour.
func (r *recorder) FailWith(method string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.fail, method)
		return
	}
	if r.fail == nil {
		r.fail = map[string]error{}
	}
	r.fail[method] = err
}

// Requests returns copies of the requests method received, in order.
func (r *recorder) Requests(method string) []proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]proto.Message, len(r.requests[method]))
	for i, m := range r.requests[method] {
		out[i] = proto.Clone(m)
	}
	return out
}

// CallsWithoutDeadline counts the calls received without a deadline; every
// caller should set one.
func (r *recorder) CallsWithoutDeadline() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noDeadline
}

// record keeps a copy of req, counts a call without a deadline, and returns
// the error configured for method.
func (r *recorder) record(ctx context.Context, method string, req proto.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests == nil {
		r.requests = map[string][]proto.Message{}
	}
	r.requests[method] = append(r.requests[method], proto.Clone(req))
	if _, ok := ctx.Deadline(); !ok {
		r.noDeadline++
	}
	return r.fail[method]
}
