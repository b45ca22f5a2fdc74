// Package bare is the reference Switchboard's benchmarks are compared with:
// a bare in-memory NDJSON fanout server, written the way a plain Go chat
// server is (a goroutine reading each connection, encoding/json, one hub
// of rooms under a mutex, every broadcast serialized once, and per
// connection a buffered channel and a writer goroutine that flushes when
// the channel drains). It has no store, no gRPC, no limits and no
// presence: it is what delivering costs with none of that. It speaks
// enough of the edge protocol for sbload: CONNECT with HS256 tokens,
// JOIN_ROOM, SEND_MESSAGE fanned out to every session of the room (the
// sender's copy echoing its seq_id), PING. For sbload's own tests it can
// also coalesce messages into BATCH_MESSAGES and gzip large envelopes,
// like the edge does for the sessions that ask.
package bare

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxBatch bounds a coalesced BATCH_MESSAGES, as the edge does.
const maxBatch = 100

// Server is a running bare fanout server.
type Server struct {
	lis      net.Listener
	secret   []byte
	compress int
	linger   time.Duration
	quiet    bool

	mu         sync.Mutex
	rooms      map[int64]map[*session]bool
	conns      map[net.Conn]bool
	closed     bool
	wg         sync.WaitGroup
	msgID      atomic.Int64
	sessions   atomic.Int64
	received   atomic.Int64
	batches    atomic.Int64
	compressed atomic.Int64
}

// Options configure a Server.
type Options struct {
	// Secret verifies the HS256 tokens of CONNECT.
	Secret string
	// CompressOver gzips the data of envelopes larger than this many bytes
	// for sessions that asked for gzip; 0 never compresses.
	CompressOver int
	// BatchLinger is how long a batch session's writer waits for more
	// messages before sending a coalesced batch.
	BatchLinger time.Duration
	// QuietJoins leaves out the USER_JOINED broadcast, whose n(n-1)/2
	// frames make filling a room of n members quadratic.
	QuietJoins bool
}

// Listen serves on addr ("127.0.0.1:0" picks a port) until Close.
func Listen(addr string, opts Options) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	e := &Server{
		lis:      lis,
		secret:   []byte(opts.Secret),
		compress: opts.CompressOver,
		linger:   opts.BatchLinger,
		quiet:    opts.QuietJoins,
		rooms:    map[int64]map[*session]bool{},
		conns:    map[net.Conn]bool{},
	}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

// Addr is the server's TCP address.
func (e *Server) Addr() string { return e.lis.Addr().String() }

// Sessions is the number of authenticated sessions open now.
func (e *Server) Sessions() int { return int(e.sessions.Load()) }

// Received is the number of SEND_MESSAGE requests fanned out.
func (e *Server) Received() int { return int(e.received.Load()) }

// Batches is the number of coalesced BATCH_MESSAGES written.
func (e *Server) Batches() int { return int(e.batches.Load()) }

// Compressed is the number of gzip-compressed envelopes written.
func (e *Server) Compressed() int { return int(e.compressed.Load()) }

// Close stops the server and closes every connection.
func (e *Server) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.lis.Close()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *Server) accept() {
	defer e.wg.Done()
	for {
		c, err := e.lis.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = true
		e.wg.Add(1)
		e.mu.Unlock()
		go e.serve(c)
	}
}

type session struct {
	conn   net.Conn
	user   int64
	gzip   bool
	batch  bool
	rooms  map[int64]bool
	out    chan frame
	done   chan struct{}
	srv    *Server
	closed sync.Once
}

type frame struct {
	action string
	data   any
	seq    string
	// enc, when set, is the encoding the frame's recipients share.
	enc *encoded
}

// encoded is a broadcast frame's encoding, made once for all its
// recipients as the edge does: a message to a room of n members is
// compressed once, not n times, and a room of n members gets n(n-1)/2
// USER_JOINED frames.
type encoded struct {
	raw, plain []byte
	once       sync.Once
	gz         []byte
}

// broadcast returns a frame for many sessions.
func broadcast(action string, data any) frame {
	raw, _ := json.Marshal(data)
	return frame{action: action, data: data, enc: &encoded{raw: raw, plain: plainLine(action, raw, "")}}
}

func plainLine(action string, data json.RawMessage, seq string) []byte {
	line, _ := json.Marshal(struct {
		Action    string          `json:"action"`
		Data      json.RawMessage `json:"data"`
		Timestamp string          `json:"timestamp"`
		SeqID     string          `json:"seq_id,omitempty"`
	}{action, data, now(), seq})
	return line
}

type envelope struct {
	Action string          `json:"action"`
	Data   json.RawMessage `json:"data"`
	SeqID  string          `json:"seq_id"`
}

// message is the edge's Message model.
type message struct {
	MessageID   int64  `json:"message_id"`
	ChatroomID  int64  `json:"chatroom_id"`
	UserID      int64  `json:"user_id"`
	Nickname    string `json:"nickname"`
	Content     string `json:"content"`
	MessageType string `json:"message_type"`
	CreatedAt   string `json:"created_at"`
}

func (e *Server) serve(c net.Conn) {
	defer e.wg.Done()
	s := &session{conn: c, rooms: map[int64]bool{}, out: make(chan frame, 1024), done: make(chan struct{}), srv: e}
	e.wg.Add(1)
	go s.write()
	defer func() {
		e.mu.Lock()
		for r := range s.rooms {
			delete(e.rooms[r], s)
		}
		delete(e.conns, c)
		e.mu.Unlock()
		if s.user != 0 {
			e.sessions.Add(-1)
		}
		s.close()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var env envelope
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			s.send(frame{action: "ERROR", data: errData("INVALID_DATA", "not a JSON envelope"), seq: ""})
			continue
		}
		if !e.handle(s, env) {
			return
		}
	}
}

func errData(code, msg string) map[string]any {
	return map[string]any{"error_code": code, "message": msg}
}

// handle answers one envelope and reports whether the session goes on.
func (e *Server) handle(s *session, env envelope) bool {
	if s.user == 0 && env.Action != "CONNECT" {
		s.send(frame{action: "ERROR", data: errData("NOT_AUTHENTICATED", "CONNECT first"), seq: env.SeqID})
		return true
	}
	switch env.Action {
	case "CONNECT":
		var d struct {
			Token       string `json:"jwt_token"`
			Compression string `json:"compression"`
			Batch       bool   `json:"batch"`
		}
		_ = json.Unmarshal(env.Data, &d)
		user, err := e.verify(d.Token)
		if err != nil || s.user != 0 {
			s.send(frame{action: "CONNECT_ERROR", data: errData("INVALID_TOKEN", "token refused"), seq: env.SeqID})
			time.Sleep(10 * time.Millisecond) // let the writer flush before the close
			return false
		}
		s.user, s.gzip, s.batch = user, d.Compression == "gzip", d.Batch
		e.sessions.Add(1)
		s.send(frame{action: "CONNECT_SUCCESS", data: map[string]any{"user_id": user, "session_id": fmt.Sprintf("s%p", s), "server_time": now()}, seq: env.SeqID})
	case "PING":
		s.send(frame{action: "PONG", data: map[string]any{"server_time": now()}, seq: env.SeqID})
	case "JOIN_ROOM":
		var d struct {
			Room int64 `json:"chatroom_id"`
		}
		if json.Unmarshal(env.Data, &d) != nil || d.Room <= 0 {
			s.send(frame{action: "ERROR", data: errData("INVALID_DATA", "chatroom_id"), seq: env.SeqID})
			return true
		}
		e.mu.Lock()
		members := e.rooms[d.Room]
		if members == nil {
			members = map[*session]bool{}
			e.rooms[d.Room] = members
		}
		members[s] = true
		s.rooms[d.Room] = true
		var others []*session
		if !e.quiet {
			others = e.others(d.Room, s)
		}
		count := len(members)
		e.mu.Unlock()
		s.send(frame{action: "JOIN_ROOM_SUCCESS", data: map[string]any{"chatroom_id": d.Room, "participants_count": count, "online_participants": []any{}}, seq: env.SeqID})
		joined := broadcast("USER_JOINED", map[string]any{"chatroom_id": d.Room, "user_id": s.user, "nickname": "u", "participants_count": count})
		for _, o := range others {
			o.send(joined)
		}
	case "SEND_MESSAGE":
		var d struct {
			Room    int64  `json:"chatroom_id"`
			Content string `json:"content"`
			Type    string `json:"message_type"`
		}
		if json.Unmarshal(env.Data, &d) != nil || d.Content == "" {
			s.send(frame{action: "ERROR", data: errData("INVALID_DATA", "content"), seq: env.SeqID})
			return true
		}
		e.mu.Lock()
		if !s.rooms[d.Room] {
			e.mu.Unlock()
			s.send(frame{action: "ERROR", data: errData("PERMISSION_DENIED", "not a member"), seq: env.SeqID})
			return true
		}
		all := e.others(d.Room, nil)
		e.mu.Unlock()
		e.received.Add(1)
		m := message{
			MessageID: e.msgID.Add(1), ChatroomID: d.Room, UserID: s.user, Nickname: "u" + strconv.FormatInt(s.user, 10),
			Content: d.Content, MessageType: d.Type, CreatedAt: now(),
		}
		posted := broadcast("NEW_MESSAGE", m)
		for _, o := range all {
			if o == s {
				o.send(frame{action: "NEW_MESSAGE", data: m, seq: env.SeqID})
				continue
			}
			o.send(posted)
		}
	default:
		s.send(frame{action: "ERROR", data: errData("INVALID_ACTION", env.Action), seq: env.SeqID})
	}
	return true
}

// others returns the sessions in room except skip; e.mu is held.
func (e *Server) others(room int64, skip *session) []*session {
	var out []*session
	for o := range e.rooms[room] {
		if o != skip {
			out = append(out, o)
		}
	}
	return out
}

func (e *Server) verify(tok string) (int64, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()).
		ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return e.secret, nil })
	if err != nil {
		return 0, err
	}
	sub, _ := claims["sub"].(string)
	id, err := strconv.ParseInt(sub, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("sub %q", sub)
	}
	return id, nil
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// send queues f for the session, dropping it once the session is gone.
func (s *session) send(f frame) {
	select {
	case s.out <- f:
	case <-s.done:
	}
}

func (s *session) close() {
	s.closed.Do(func() {
		close(s.done)
		s.conn.Close()
	})
}

// write encodes queued frames, coalescing consecutive messages for batch sessions.
func (s *session) write() {
	defer s.srv.wg.Done()
	w := bufio.NewWriter(s.conn)
	for {
		var f frame
		select {
		case f = <-s.out:
		case <-s.done:
			return
		}
		if s.batch && f.action == "NEW_MESSAGE" {
			msgs := []any{f.data}
			var next *frame
			if s.srv.linger > 0 {
				time.Sleep(s.srv.linger)
			}
		gather:
			for len(msgs) < maxBatch {
				select {
				case g := <-s.out:
					if g.action != "NEW_MESSAGE" {
						next = &g
						break gather
					}
					msgs = append(msgs, g.data)
				default:
					break gather
				}
			}
			if len(msgs) > 1 {
				f = frame{action: "BATCH_MESSAGES", data: map[string]any{"messages": msgs}, seq: ""}
				s.srv.batches.Add(1)
			}
			s.encode(w, f)
			if next != nil {
				s.encode(w, *next)
			}
		} else {
			s.encode(w, f)
		}
		if len(s.out) == 0 {
			if w.Flush() != nil {
				s.close()
				return
			}
		}
	}
}

func (s *session) encode(w *bufio.Writer, f frame) {
	var line []byte
	switch {
	case f.enc != nil && s.compresses(f.enc.raw):
		f.enc.once.Do(func() { f.enc.gz = gzipLine(f.action, f.enc.raw, "") })
		line = f.enc.gz
	case f.enc != nil:
		line = f.enc.plain
	default:
		data, _ := json.Marshal(f.data)
		if s.compresses(data) {
			line = gzipLine(f.action, data, f.seq)
		} else {
			line = plainLine(f.action, data, f.seq)
		}
	}
	w.Write(line)
	w.WriteByte('\n')
}

// compresses reports whether the session gets data compressed, and counts it.
func (s *session) compresses(data []byte) bool {
	if s.gzip && s.srv.compress > 0 && len(data) > s.srv.compress {
		s.srv.compressed.Add(1)
		return true
	}
	return false
}

func gzipLine(action string, data []byte, seq string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	line, _ := json.Marshal(struct {
		Action     string `json:"action"`
		Compressed bool   `json:"compressed"`
		Data       string `json:"data"`
		Timestamp  string `json:"timestamp"`
		SeqID      string `json:"seq_id,omitempty"`
	}{action, true, base64.StdEncoding.EncodeToString(buf.Bytes()), now(), seq})
	return line
}
