//go:build compose

package standalone

// The compose stack's end-to-end test: the images `make images` built, run
// by docker-compose from deploy/compose.yaml under a project of its own,
// exercised through the published loopback ports like a deployment:
//
//	make test-compose
//
// which runs, from deploy/standalone,
//
//	go test -tags compose -run TestCompose -count=1 -v -timeout 15m .
//
// Without a Docker Engine it fails when CI=true and is skipped, saying so,
// otherwise. The ports are the stack's fixed ones (12345, 12346, 8080,
// 9101-9104): nothing else may hold them while it runs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	backupv1 "switchboard.dev/api/gen/switchboard/backup/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// The stack's published addresses (deploy/compose.yaml).
const (
	composeEdge1  = "127.0.0.1:12345"
	composeEdge2  = "127.0.0.1:12346"
	composeBridge = "127.0.0.1:8080"
	composeAuth   = "127.0.0.1:9101"
	composeChat   = "127.0.0.1:9102"
)

// composeStores are the services that own a store, with their admin ports.
var composeStores = []struct{ service, addr, file string }{
	{"authd", "127.0.0.1:9101", "auth.db"},
	{"chatd", "127.0.0.1:9102", "chat.db"},
	{"presenced", "127.0.0.1:9103", "presence.db"},
	{"signalingd", "127.0.0.1:9104", "signaling.db"},
}

// composeImages are the images the stack runs.
var composeImages = []string{"authd", "chatd", "presenced", "signalingd", "edged", "bridged"}

// composeStack drives one compose project.
type composeStack struct {
	t       *testing.T
	command []string // docker-compose, or docker compose
	args    []string // -p, -f and --env-file
	env     []string
}

// notRun ends the test when the environment cannot run it: a failure in CI,
// a skip saying plainly that it did not run otherwise.
func notRun(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("compose test cannot run: %s", msg)
	}
	t.Skipf("compose test NOT RUN: %s (it runs in CI, where this fails)", msg)
}

// composeEnv is the environment of the docker and compose commands: what
// they need to reach the engine, and none of the stack's settings, which
// come from the test's env file alone (compose prefers the environment).
func composeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "TMPDIR", k == "LANG", k == "XDG_RUNTIME_DIR",
			strings.HasPrefix(k, "DOCKER_"), strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return env
}

// composeCommand returns the compose command: SWITCHBOARD_COMPOSE (the
// Makefile's choice), else `docker compose` when the Docker CLI has it,
// else docker-compose.
func composeCommand(ctx context.Context, env []string) ([]string, error) {
	if c := strings.Fields(os.Getenv("SWITCHBOARD_COMPOSE")); len(c) > 0 {
		return c, nil
	}
	v2 := exec.CommandContext(ctx, "docker", "compose", "version")
	v2.Env = env
	if v2.Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return nil, errors.New("neither `docker compose` nor docker-compose is installed")
	}
	return []string{"docker-compose"}, nil
}

// startCompose checks the engine and the images, writes the env file, and
// registers the removal of the project (down -v) at the end of the test.
func startCompose(t *testing.T) *composeStack {
	t.Helper()
	env := composeEnv()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	info.Env = env
	out, err := info.CombinedOutput()
	if err != nil {
		notRun(t, "no Docker Engine answers (docker info: %v: %s)", err, bytes.TrimSpace(out))
	}
	t.Logf("Docker Engine %s", bytes.TrimSpace(out))
	command, err := composeCommand(ctx, env)
	if err != nil {
		notRun(t, "%v", err)
	}
	tag := os.Getenv("IMAGE_TAG")
	if tag == "" {
		tag = "dev"
	}
	for _, img := range composeImages {
		inspect := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", "switchboard/"+img+":"+tag)
		inspect.Env = env
		if out, err := inspect.CombinedOutput(); err != nil {
			t.Fatalf("image switchboard/%s:%s missing (run make images; make test-compose does): %v: %s", img, tag, err, bytes.TrimSpace(out))
		}
	}
	envFile := filepath.Join(t.TempDir(), "compose.env")
	settings := strings.Join([]string{
		"IMAGE_TAG=" + tag,
		"PUBLISH_HOST=127.0.0.1",
		"LOG_LEVEL=debug", // every RPC logged with its request id
		"JWT_SECRET=" + vectorSecret,
	}, "\n") + "\n"
	if err := os.WriteFile(envFile, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("sbtest%d", os.Getpid())
	s := &composeStack{
		t:       t,
		command: command,
		args:    []string{"-p", project, "-f", filepath.Join("..", "compose.yaml"), "--env-file", envFile},
		env:     env,
	}
	t.Logf("compose: %s %s", strings.Join(command, " "), strings.Join(s.args, " "))
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := s.run(time.Minute, "logs", "--no-color", "--tail", "60")
			t.Logf("the stack's last logs:\n%s", logs)
		}
		if out, err := s.run(3*time.Minute, "down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("compose down -v: %v\n%s", err, out)
		}
	})
	return s
}

// run runs one compose command, bounded by timeout, and returns its output.
func (s *composeStack) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(append(append([]string{}, s.command[1:]...), s.args...), args...)
	cmd := exec.CommandContext(ctx, s.command[0], full...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %v", ctx.Err(), timeout)
	}
	return string(out), err
}

// must runs one compose command and fails the test when it fails.
func (s *composeStack) must(timeout time.Duration, args ...string) string {
	s.t.Helper()
	start := time.Now()
	out, err := s.run(timeout, args...)
	if err != nil {
		s.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s.t.Logf("compose %s: %v", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return out
}

// waitHealthy waits until every container of the project is healthy.
func (s *composeStack) waitHealthy(timeout time.Duration) {
	s.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var states string
	for time.Now().Before(deadline) {
		out, err := s.run(time.Minute, "ps", "-q")
		if err != nil {
			s.t.Fatalf("compose ps -q: %v\n%s", err, out)
		}
		ids := strings.Fields(out)
		if len(ids) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, "docker", append([]string{"inspect", "--format",
				"{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"}, ids...)...)
			cmd.Env = s.env
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				s.t.Fatalf("docker inspect: %v\n%s", err, out)
			}
			states = strings.TrimSpace(string(out))
			healthy := 0
			for line := range strings.Lines(states) {
				if strings.HasSuffix(strings.TrimSpace(line), " healthy") {
					healthy++
				}
			}
			if healthy == len(ids) && len(ids) == len(composeImages)+1 { // two edges
				s.t.Logf("stack healthy after %v", time.Since(start).Round(100*time.Millisecond))
				return
			}
		}
		time.Sleep(time.Second)
	}
	s.t.Fatalf("stack not healthy after %v:\n%s", timeout, states)
}

// logs returns the logs of one service.
func (s *composeStack) logs(service string) string {
	s.t.Helper()
	return s.must(time.Minute, "logs", "--no-color", service)
}

// grpcConn dials one of the published admin ports.
func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// waitEdge dials addr until it accepts, for at most timeout.
func waitEdge(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := dialQuiet(addr)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge %s: %v after %v", addr, err, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reply reads cl's envelopes until the answer to seq (an envelope with that
// seq_id, or an ERROR naming it), passing over the rest (room traffic,
// video events), for at most timeout.
func reply(t *testing.T, cl *client, seq string, timeout time.Duration) envelope {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n := 0; n < 10000; n++ {
		env, err := cl.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: no answer to %s: %v", cl.name, seq, err)
		}
		if env.SeqID == seq || (env.Action == "ERROR" && env.Data["original_seq_id"] == seq) {
			return env
		}
	}
	t.Fatalf("%s: no answer to %s in 10000 envelopes", cl.name, seq)
	return envelope{}
}

// await reads cl's envelopes until one for which match is true, passing
// over the rest, for at most timeout.
func await(t *testing.T, cl *client, what string, timeout time.Duration, match func(envelope) bool) envelope {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n := 0; n < 10000; n++ {
		env, err := cl.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: no %s within %v: %v", cl.name, what, timeout, err)
		}
		if match(env) {
			return env
		}
	}
	t.Fatalf("%s: no %s in 10000 envelopes", cl.name, what)
	return envelope{}
}

// history reads room's whole history through GET_MESSAGES, paging forward:
// message id to content.
func history(t *testing.T, cl *client, room int64) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	after := int64(0)
	for page := 0; page < 100; page++ {
		seq := cl.send("GET_MESSAGES", map[string]any{"chatroom_id": room, "after_message_id": after, "limit": 100})
		env := reply(t, cl, seq, 10*time.Second)
		if env.Action != "MESSAGES" {
			t.Fatalf("%s: GET_MESSAGES answered %s", cl.name, env.raw)
		}
		msgs, _ := env.Data["messages"].([]any)
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			id := num(mm["message_id"])
			content, _ := mm["content"].(string)
			out[id] = content
			after = max(after, id)
		}
		if env.Data["has_more"] != true || len(msgs) == 0 {
			return out
		}
	}
	t.Fatalf("%s: history of room %d longer than 100 pages", cl.name, room)
	return nil
}

func TestCompose(t *testing.T) {
	s := startCompose(t)
	s.must(5*time.Minute, "up", "-d")
	s.waitHealthy(3 * time.Minute)

	const room = 1
	const alice, bob = 501, 502
	createRoom(t, chatv1.NewChatAdminServiceClient(grpcConn(t, composeChat)), &chatv1.CreateRoomRequest{Id: room, Name: "compose"})

	// One user on each edge, chatting across them.
	a := dialEdge(t, composeEdge1, "alice@edge1")
	aOK := a.connect(mint(t, alice, "alice", time.Hour))
	b := dialEdge(t, composeEdge2, "bob@edge2")
	b.connect(mint(t, bob, "bob", time.Hour))
	a.join(room)
	b.join(room)
	await(t, a, "USER_JOINED of bob", 10*time.Second, func(e envelope) bool { return e.Action == "USER_JOINED" && num(e.Data["user_id"]) == bob })
	seq := a.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": "hello from edge1"})
	if env := reply(t, a, seq, 10*time.Second); env.Action != "NEW_MESSAGE" {
		t.Fatalf("alice: SEND_MESSAGE answered %s", env.raw)
	}
	if env := await(t, b, "alice's message", 10*time.Second, func(e envelope) bool { return e.Action == "NEW_MESSAGE" }); env.Data["content"] != "hello from edge1" || num(env.Data["user_id"]) != alice {
		t.Fatalf("bob on edge2 got %s, want alice's message", env.raw)
	}
	seq = b.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": "hello from edge2"})
	if env := reply(t, b, seq, 10*time.Second); env.Action != "NEW_MESSAGE" {
		t.Fatalf("bob: SEND_MESSAGE answered %s", env.raw)
	}
	if env := await(t, a, "bob's message", 10*time.Second, func(e envelope) bool { return e.Action == "NEW_MESSAGE" }); env.Data["content"] != "hello from edge2" || num(env.Data["user_id"]) != bob {
		t.Fatalf("alice on edge1 got %s, want bob's message", env.raw)
	}

	t.Run("request id from the edge in the service's logs", func(t *testing.T) {
		session, _ := aOK.Data["session_id"].(string)
		want := fmt.Sprintf(`"request_id":"%s:`, session)
		if session == "" || !strings.Contains(s.logs("chatd"), want) {
			t.Errorf("chatd's logs have no record with %s (alice's session %q)", want, session)
		}
	})

	t.Run("video room offer and answer across edges", func(t *testing.T) {
		seq := a.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": room, "video_room_name": "standup", "max_participants": 2})
		created := reply(t, a, seq, 10*time.Second)
		if created.Action != "VIDEO_ROOM_CREATED" {
			t.Fatalf("alice: CREATE_VIDEO_ROOM answered %s", created.raw)
		}
		vroom := videoRoomID(t, created) // alice, the creator, is its first participant
		join := func(cl *client) {
			seq := cl.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": vroom, "media_status": map[string]any{"audio_enabled": true, "video_enabled": true}})
			if env := reply(t, cl, seq, 10*time.Second); env.Action != "JOIN_VIDEO_ROOM_SUCCESS" {
				t.Fatalf("%s: JOIN_VIDEO_ROOM answered %s", cl.name, env.raw)
			}
		}
		join(b)
		await(t, a, "bob joining the video room", 10*time.Second, func(e envelope) bool {
			return e.Action == "VIDEO_PARTICIPANT_JOINED" && num(e.Data["user_id"]) == bob
		})
		offer := map[string]any{"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
		a.send("SDP_OFFER", map[string]any{"video_room_id": vroom, "target_user_id": bob, "sdp": offer})
		got := await(t, b, "alice's SDP_OFFER", 10*time.Second, func(e envelope) bool { return e.Action == "SDP_OFFER" })
		if num(got.Data["from_user_id"]) != alice || videoRoomID(t, got) != vroom {
			t.Errorf("bob on edge2 got %s, want alice's offer with from_user_id %d", got.raw, alice)
		}
		b.send("SDP_ANSWER", map[string]any{"video_room_id": vroom, "target_user_id": alice, "sdp": map[string]any{"type": "answer", "sdp": "v=0\r\n"}})
		got = await(t, a, "bob's SDP_ANSWER", 10*time.Second, func(e envelope) bool { return e.Action == "SDP_ANSWER" })
		if num(got.Data["from_user_id"]) != bob {
			t.Errorf("alice on edge1 got %s, want bob's answer with from_user_id %d", got.raw, bob)
		}
		for _, cl := range []*client{a, b} {
			seq := cl.send("LEAVE_VIDEO_ROOM", map[string]any{"video_room_id": vroom})
			if env := reply(t, cl, seq, 10*time.Second); env.Action != "LEAVE_VIDEO_ROOM_SUCCESS" {
				t.Errorf("%s: LEAVE_VIDEO_ROOM answered %s", cl.name, env.raw)
			}
		}
	})

	t.Run("bridge session waits for an offer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		key, err := authv1.NewAuthAdminServiceClient(grpcConn(t, composeAuth)).CreateAPIKey(ctx, &authv1.CreateAPIKeyRequest{Env: "TEST01", Name: "compose test"})
		if err != nil {
			t.Fatalf("CreateAPIKey() = %v", err)
		}
		expectBridgeWaiting(ctx, t, composeBridge, key.GetKey())
	})

	t.Run("backups of the running services open with bbolt", func(t *testing.T) {
		for _, st := range composeStores {
			data, name := fetchBackup(t, st.addr)
			if name != st.file {
				t.Errorf("%s: backup file_name = %q, want %q", st.service, name, st.file)
			}
			path := filepath.Join(t.TempDir(), st.file)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
			if err != nil {
				t.Errorf("%s: bolt.Open(backup of %d bytes) = %v", st.service, len(data), err)
				continue
			}
			buckets := 0
			db.View(func(tx *bolt.Tx) error {
				return tx.ForEach(func([]byte, *bolt.Bucket) error { buckets++; return nil })
			})
			db.Close()
			if buckets == 0 {
				t.Errorf("%s: the backup has no bucket", st.service)
			}
		}
	})

	// Restart chat while alice is sending: every message acknowledged before
	// or after the restart is in the history afterwards.
	restarted := make(chan error, 1)
	go func() {
		out, err := s.run(3*time.Minute, "restart", "--timeout", "10", "chatd")
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		restarted <- err
	}()
	acked := map[int64]string{}
	refused, afterRestart := 0, 0
	done := false
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; afterRestart < 5; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("chat restart: %d acknowledged after the restart within 2 min (done %v), want 5", afterRestart, done)
		}
		if !done {
			select {
			case err := <-restarted:
				if err != nil {
					t.Fatalf("compose restart chatd: %v", err)
				}
				done = true
			default:
			}
		}
		content := fmt.Sprint("during the restart ", i)
		seq := a.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": content})
		switch env := reply(t, a, seq, 15*time.Second); {
		case env.Action == "NEW_MESSAGE":
			acked[num(env.Data["message_id"])] = content
			if done {
				afterRestart++
			}
		case env.Action == "ERROR":
			refused++ // SERVICE_UNAVAILABLE while chat is down
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("alice: SEND_MESSAGE answered %s", env.raw)
		}
		time.Sleep(100 * time.Millisecond) // a conversation's pace, under the rate limit
	}
	t.Logf("chat restart: %d messages acknowledged, %d refused while chat was down", len(acked), refused)
	stored := history(t, a, room)
	for id, content := range acked {
		if stored[id] != content {
			t.Errorf("acknowledged message %d (%q) is %q in the history after the restart", id, content, stored[id])
		}
	}
	// Both sessions still work, both ways.
	seq = b.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": "bob after the restart"})
	if env := reply(t, b, seq, 10*time.Second); env.Action != "NEW_MESSAGE" {
		t.Fatalf("bob after the restart: SEND_MESSAGE answered %s", env.raw)
	}
	await(t, a, "bob's message after the restart", 20*time.Second, func(e envelope) bool {
		return e.Action == "NEW_MESSAGE" && e.Data["content"] == "bob after the restart"
	})
	seq = a.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": "alice after the restart"})
	if env := reply(t, a, seq, 10*time.Second); env.Action != "NEW_MESSAGE" {
		t.Fatalf("alice after the restart: SEND_MESSAGE answered %s", env.raw)
	}
	await(t, b, "alice's message after the restart", 20*time.Second, func(e envelope) bool {
		return e.Action == "NEW_MESSAGE" && e.Data["content"] == "alice after the restart"
	})

	// Kill edge1: alice is shown offline to bob within the presence lease +
	// grace (10 s + 5 s by default), plus a margin.
	b.presence = true
	s.must(time.Minute, "kill", "edge1")
	killed := time.Now()
	await(t, b, "alice going offline", 30*time.Second, func(e envelope) bool {
		return e.Action == "USER_STATUS_CHANGED" && num(e.Data["user_id"]) == alice && e.Data["is_online"] == false
	})
	t.Logf("alice shown offline %v after edge1 was killed", time.Since(killed).Round(100*time.Millisecond))

	// down (volumes kept) and up: the history is there.
	s.must(3*time.Minute, "down", "--timeout", "10")
	s.must(5*time.Minute, "up", "-d")
	s.waitHealthy(3 * time.Minute)
	waitEdge(t, composeEdge1, 30*time.Second)
	c := dialEdge(t, composeEdge1, "bob@edge1")
	c.connect(mint(t, bob, "bob", time.Hour))
	after := history(t, c, room)
	for id, content := range acked {
		if after[id] != content {
			t.Errorf("message %d (%q) is %q in the history after down and up", id, content, after[id])
		}
	}
	if len(after) < len(acked)+4 {
		t.Errorf("after down and up the room has %d messages, want at least %d", len(after), len(acked)+4)
	}
}

// fetchBackup runs BackupService.Backup at addr and returns the file.
func fetchBackup(t *testing.T, addr string) ([]byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := backupv1.NewBackupServiceClient(grpcConn(t, addr)).Backup(ctx, &backupv1.BackupRequest{})
	if err != nil {
		t.Fatalf("Backup(%s) = %v", addr, err)
	}
	var data bytes.Buffer
	var name string
	for i := 0; i < 1<<20; i++ {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return data.Bytes(), name
		}
		if err != nil {
			t.Fatalf("Backup(%s) chunk %d: %v", addr, i, err)
		}
		if i == 0 {
			name = chunk.GetFileName()
		}
		data.Write(chunk.GetData())
	}
	t.Fatalf("Backup(%s): more than 2^20 chunks", addr)
	return nil, ""
}
