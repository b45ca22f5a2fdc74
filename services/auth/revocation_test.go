package auth

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/platform/grpcserver"
)

func TestIssuedAtOverGRPC(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	ctx := callCtx(t)
	noIAT := fresh("5", "no-iat")
	delete(noIAT, "iat")
	tests := []struct {
		name string
		tok  string
		want *timestamppb.Timestamp
	}{
		{"login vector", vectorLogin, timestamppb.New(time.Unix(1767225600, 0))},
		{"refresh vector, fractional iat", vectorRefresh, timestamppb.New(time.Unix(1767225600, 0))},
		{"no iat", hs256(t, noIAT), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: tt.tok})
			if err != nil || !proto.Equal(resp.GetIssuedAt(), tt.want) {
				t.Errorf("VerifyToken(%s) = %v, %v; want issued_at %v", tt.name, resp, err, tt.want)
			}
		})
	}
}

// userToken mints a token of user sub issued at iat (none when zero),
// valid for the next hour.
func userToken(t *testing.T, sub, jti string, iat time.Time) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "jti": jti, "exp": time.Now().Add(time.Hour).Unix()}
	if !iat.IsZero() {
		c["iat"] = iat.Unix()
	}
	return hs256(t, c)
}

func TestRevokeUserOverGRPC(t *testing.T) {
	cfg := Config{Secret: []byte(laravelSecret), DataDir: filepath.Join(t.TempDir(), "data")}
	svc := start(t, cfg)
	ctx := callCtx(t)

	now := time.Now()
	toks := []struct {
		name string
		tok  string
		// revoked: refused once user 9 is revoked.
		revoked bool
	}{
		{"user 9 issued 10 minutes ago", userToken(t, "9", "old", now.Add(-10*time.Minute)), true},
		{"user 9 refreshed, login 13 days ago", userToken(t, "9", "refreshed", now.Add(-13*24*time.Hour)), true},
		{"user 9 without iat", userToken(t, "9", "no-iat", time.Time{}), true},
		{"user 9 issued in a minute", userToken(t, "9", "new", now.Add(time.Minute)), false},
		{"user 10 issued 10 minutes ago", userToken(t, "10", "other", now.Add(-10*time.Minute)), false},
	}
	verifyAll := func(svc *service, when string, revokedNow bool) {
		t.Helper()
		for _, tk := range toks {
			want := ""
			if revokedNow && tk.revoked {
				want = "ERROR_REASON_TOKEN_REVOKED"
			}
			_, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: tk.tok})
			if _, reason := reasonOf(t, err); reason != want || (want == "") != (err == nil) {
				t.Errorf("%s: VerifyToken(%s) = %v, want reason %q", when, tk.name, err, want)
			}
		}
	}
	verifyAll(svc, "before RevokeUser", false)

	before := time.Now()
	resp, err := svc.admin.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: 9})
	after := time.Now()
	if err != nil {
		t.Fatalf("RevokeUser(9) error = %v", err)
	}
	ib := resp.GetIssuedBefore().AsTime()
	if ib.Before(before) || ib.After(after) {
		t.Errorf("RevokeUser(9) issued_before = %v, want between %v and %v", ib, before, after)
	}
	verifyAll(svc, "after RevokeUser", true)

	// Revoking again moves issued_before forward.
	resp2, err := svc.admin.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: 9})
	if err != nil || resp2.GetIssuedBefore().AsTime().Before(ib) {
		t.Errorf("second RevokeUser(9) = %v, %v; want issued_before at or after %v", resp2, err, ib)
	}
	verifyAll(svc, "after the second RevokeUser", true)

	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	verifyAll(start(t, cfg), "after restart", true)
}

// watcher is one WatchRevocations stream.
type watcher struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[authv1.WatchRevocationsResponse]
	cancel context.CancelFunc
}

// watch opens a stream after after (nil: unset) and returns it with its
// first response.
func watch(t *testing.T, svc *service, after *uint64) (*watcher, *authv1.WatchRevocationsResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := svc.auth.WatchRevocations(ctx, &authv1.WatchRevocationsRequest{EdgeId: "edge-test", AfterSeq: after})
	if err != nil {
		t.Fatalf("WatchRevocations(after %v) error = %v", after, err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("WatchRevocations(after %v) first Recv error = %v", after, err)
	}
	return &watcher{t: t, stream: stream, cancel: cancel}, first
}

// until receives until it has seen seq (bounded by the stream's deadline
// and by a count of responses) and returns the revocations received.
func (w *watcher) until(seq uint64) []*authv1.Revocation {
	w.t.Helper()
	var got []*authv1.Revocation
	for range 100 {
		if len(got) > 0 && got[len(got)-1].GetSeq() >= seq {
			return got
		}
		resp, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("WatchRevocations Recv waiting for seq %d, after %v: error = %v", seq, seqs(got), err)
		}
		if resp.GetTruncated() {
			w.t.Errorf("WatchRevocations response after the first has truncated set: %v", resp)
		}
		if resp.GetHeadSeq() < lastSeq(resp.GetRevocations()) {
			w.t.Errorf("WatchRevocations response head_seq %d below its revocations %v", resp.GetHeadSeq(), seqs(resp.GetRevocations()))
		}
		got = append(got, resp.GetRevocations()...)
	}
	w.t.Fatalf("WatchRevocations: seq %d not seen in 100 responses; got %v", seq, seqs(got))
	return nil
}

func seqs(revs []*authv1.Revocation) []uint64 {
	out := []uint64{}
	for _, r := range revs {
		out = append(out, r.GetSeq())
	}
	return out
}

func lastSeq(revs []*authv1.Revocation) uint64 {
	if len(revs) == 0 {
		return 0
	}
	return revs[len(revs)-1].GetSeq()
}

// revocationLog is the expected revocation log of TestWatchRevocationsOverGRPC, by
// seq; revoke appends to it.
type revocationLog struct {
	t   *testing.T
	ctx context.Context
	all []*authv1.Revocation
	// unset are the seqs revoked without expires_at, with the window their
	// expiry must fall in (the call's duration, plus the service's ttl).
	unset map[uint64][2]time.Time
}

// revokeToken revokes jti on svc until exp, or, when exp is zero, for the
// service's user revocation ttl.
func (l *revocationLog) revokeToken(svc *service, jti string, exp time.Time, ttl time.Duration) {
	l.t.Helper()
	req := &authv1.RevokeTokenRequest{TokenId: jti}
	r := &authv1.Revocation{Seq: uint64(len(l.all) + 1), Target: &authv1.Revocation_TokenId{TokenId: jti}}
	if !exp.IsZero() {
		req.ExpiresAt = timestamppb.New(exp)
		r.ExpiresAt = req.ExpiresAt
	}
	before := time.Now()
	if _, err := svc.admin.RevokeToken(l.ctx, req); err != nil {
		l.t.Fatalf("RevokeToken(%v) error = %v", req, err)
	}
	if exp.IsZero() {
		if l.unset == nil {
			l.unset = map[uint64][2]time.Time{}
		}
		l.unset[r.Seq] = [2]time.Time{before.Add(ttl), time.Now().Add(ttl)}
	}
	l.all = append(l.all, r)
}

// revokeUser revokes user id on svc, whose user revocation ttl is ttl.
func (l *revocationLog) revokeUser(svc *service, id int64, ttl time.Duration) {
	l.t.Helper()
	resp, err := svc.admin.RevokeUser(l.ctx, &authv1.RevokeUserRequest{UserId: id})
	if err != nil {
		l.t.Fatalf("RevokeUser(%d) error = %v", id, err)
	}
	ib := resp.GetIssuedBefore()
	l.all = append(l.all, &authv1.Revocation{
		Seq:          uint64(len(l.all) + 1),
		Target:       &authv1.Revocation_UserId{UserId: id},
		IssuedBefore: ib,
		ExpiresAt:    timestamppb.New(ib.AsTime().Add(ttl)),
	})
}

// check compares got with the expected entries of seqs from to through.
func (l *revocationLog) check(when string, got []*authv1.Revocation, from, through uint64) {
	l.t.Helper()
	want := l.all[from-1 : through]
	if len(got) != len(want) {
		l.t.Errorf("%s: WatchRevocations carried seqs %v, want %d..%d", when, seqs(got), from, through)
		return
	}
	for i := range want {
		if w, ok := l.unset[got[i].GetSeq()]; ok {
			exp := got[i].GetExpiresAt().AsTime()
			if exp.Before(w[0]) || exp.After(w[1]) {
				l.t.Errorf("%s: revocation %d without expires_at expires %v, want the ttl from now (%v..%v)", when, i, exp, w[0], w[1])
			}
			got[i] = proto.CloneOf(got[i])
			got[i].ExpiresAt = nil
		}
		if !proto.Equal(got[i], want[i]) {
			l.t.Errorf("%s: WatchRevocations revocation %d = %v, want %v", when, i, got[i], want[i])
		}
	}
}

func TestWatchRevocationsOverGRPC(t *testing.T) {
	const ttl = 2 * time.Hour
	cfg := Config{Secret: []byte(laravelSecret), DataDir: filepath.Join(t.TempDir(), "data"), UserRevocationTTL: ttl}
	svc := start(t, cfg)
	log := &revocationLog{t: t, ctx: callCtx(t)}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)

	// Live: both kinds, in order, with their fields.
	w, first := watch(t, svc, nil)
	if first.GetHeadSeq() != 0 || len(first.GetRevocations()) != 0 || first.GetTruncated() {
		t.Errorf("WatchRevocations(unset) on a new service first response = %v, want head 0 and nothing else", first)
	}
	log.revokeToken(svc, "a", exp, ttl)
	log.revokeUser(svc, 9, ttl)
	log.revokeToken(svc, "b", time.Time{}, ttl)
	log.check("live", w.until(3), 1, 3)

	// Resume after a cancel: exactly the missed ones.
	w.cancel()
	log.revokeToken(svc, "c", exp, ttl)
	log.revokeUser(svc, 10, ttl)
	w, first = watch(t, svc, proto.Uint64(3))
	if first.GetHeadSeq() != 5 || first.GetTruncated() {
		t.Errorf("WatchRevocations(after 3) first response = %v, want head 5, not truncated", first)
	}
	// Committed before the stream opened, they come in its first response.
	log.check("resume after 3", first.GetRevocations(), 4, 5)
	w.cancel()

	// A restart of the whole service, then a resume: nothing is lost, and
	// live revocations follow.
	log.revokeToken(svc, "d", exp, ttl)
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	svc = start(t, cfg)
	log.revokeUser(svc, 11, ttl)
	w, first = watch(t, svc, proto.Uint64(5))
	if first.GetHeadSeq() != 7 || first.GetTruncated() {
		t.Errorf("WatchRevocations(after 5) after a restart first response = %v, want head 7, not truncated", first)
	}
	log.revokeToken(svc, "e", exp, ttl)
	got := first.GetRevocations()
	if lastSeq(got) < 8 {
		got = append(got, w.until(8)...)
	}
	log.check("resume after a restart", got, 6, 8)

	// Unset after_seq starts at the head.
	w2, first := watch(t, svc, nil)
	if first.GetHeadSeq() != 8 || len(first.GetRevocations()) != 0 || first.GetTruncated() {
		t.Errorf("WatchRevocations(unset) first response = %v, want head 8 and no revocations", first)
	}
	log.revokeToken(svc, "f", exp, ttl)
	log.check("unset after_seq", w2.until(9), 9, 9)
	log.check("the resumed stream goes on", w.until(9), 9, 9)

	// after_seq 0 replays from the oldest.
	w3, first := watch(t, svc, proto.Uint64(0))
	if first.GetHeadSeq() != 9 || first.GetTruncated() {
		t.Errorf("WatchRevocations(after 0) first response = %v, want head 9, not truncated", first)
	}
	got = first.GetRevocations()
	if lastSeq(got) < 9 {
		got = append(got, w3.until(9)...)
	}
	log.check("after 0", got, 1, 9)
}

func TestWatchTruncatedAfterPurge(t *testing.T) {
	cfg := Config{Secret: []byte(laravelSecret), DataDir: filepath.Join(t.TempDir(), "data")}
	svc := start(t, cfg)
	log := &revocationLog{t: t, ctx: callCtx(t)}
	log.revokeToken(svc, "x", time.Now().Add(-time.Hour), 0) // already expired
	log.revokeToken(svc, "y", time.Now().Add(-time.Hour), 0)
	log.revokeToken(svc, "z", time.Now().Add(time.Hour), 0)
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	// The restarted service purges what expired before it serves.
	svc = start(t, cfg)
	tests := []struct {
		after         uint64
		wantTruncated bool
	}{
		{0, true},
		{1, true},
		{2, false},
	}
	for _, tt := range tests {
		w, first := watch(t, svc, proto.Uint64(tt.after))
		if first.GetHeadSeq() != 3 || first.GetTruncated() != tt.wantTruncated {
			t.Errorf("WatchRevocations(after %d) after a purge first response = %v, want head 3 truncated %v", tt.after, first, tt.wantTruncated)
		}
		log.check("after a purge", first.GetRevocations(), 3, 3)
		w.cancel()
	}
}

func TestWatchEndsOnShutdown(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	w, _ := watch(t, svc, nil)
	began := time.Now()
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() with an open WatchRevocations stream = %v, want nil", err)
	}
	// Not a performance bound: past the shutdown timeout, the stream was
	// cut by Stop instead of ended before the graceful drain.
	if d := time.Since(began); d >= grpcserver.DefaultShutdownTimeout {
		t.Errorf("Run took %v to stop with an open stream, want less than the shutdown timeout %v", d, grpcserver.DefaultShutdownTimeout)
	}
	_, err := w.stream.Recv()
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
		t.Errorf("WatchRevocations Recv after shutdown = %v, want Unavailable from the service (shutting down)", err)
	}
}
