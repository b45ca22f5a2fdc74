package auth

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// syncBuffer is a bytes.Buffer safe for the service's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// createKey makes a key on svc and checks the response's shape.
func createKey(t *testing.T, svc *service, env, name string) *authv1.CreateAPIKeyResponse {
	t.Helper()
	before := time.Now()
	resp, err := svc.admin.CreateAPIKey(callCtx(t), &authv1.CreateAPIKeyRequest{Env: env, Name: name})
	if err != nil {
		t.Fatalf("CreateAPIKey(%s, %q) error = %v", env, name, err)
	}
	k, key := resp.GetApiKey(), resp.GetKey()
	random, ok := strings.CutPrefix(key, "sk_"+env+"_")
	if !ok || len(random) != 32 || strings.ContainsAny(random, "_-") {
		t.Errorf("CreateAPIKey(%s) key of %d bytes, want sk_%s_ and 32 characters without _ or -", env, len(key), env)
	}
	at := k.GetCreatedAt().AsTime()
	if !strings.HasPrefix(k.GetId(), "key_") || strings.Contains(key, k.GetId()[len("key_"):]) ||
		k.GetEnv() != env || k.GetName() != name || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) || k.GetRevokedAt() != nil {
		t.Errorf("CreateAPIKey(%s, %q) api_key = %v; want a key_ id apart from the key, env, name, created now, not revoked", env, name, k)
	}
	return resp
}

// checkRefused fails unless VerifyAPIKey(key) is refused as an invalid API
// key, with the one message every refused key gets.
func checkRefused(t *testing.T, svc *service, what, key string) {
	t.Helper()
	resp, err := svc.auth.VerifyAPIKey(callCtx(t), &authv1.VerifyAPIKeyRequest{Key: key})
	code, reason := reasonOf(t, err)
	if code != codes.Unauthenticated || reason != "ERROR_REASON_INVALID_API_KEY" || status.Convert(err).Message() != "invalid API key" {
		t.Errorf("VerifyAPIKey(%s) = %v, %v; want Unauthenticated, ERROR_REASON_INVALID_API_KEY, \"invalid API key\"", what, resp, err)
	}
}

func checkList(t *testing.T, svc *service, when string, want ...*authv1.APIKey) {
	t.Helper()
	resp, err := svc.admin.ListAPIKeys(callCtx(t), &authv1.ListAPIKeysRequest{})
	if err != nil || len(resp.GetApiKeys()) != len(want) {
		t.Fatalf("%s: ListAPIKeys() = %v, %v; want %v", when, resp, err, want)
	}
	for i, k := range resp.GetApiKeys() {
		if !proto.Equal(k, want[i]) {
			t.Errorf("%s: ListAPIKeys()[%d] = %v, want %v", when, i, k, want[i])
		}
	}
}

func TestAPIKeysOverGRPC(t *testing.T) {
	logs := &syncBuffer{}
	cfg := Config{
		Secret:  []byte(laravelSecret),
		DataDir: filepath.Join(t.TempDir(), "data"),
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	svc := start(t, cfg)
	ctx := callCtx(t)
	w, _ := watch(t, svc, nil)

	ci := createKey(t, svc, "TEST01", "ci bridge")
	live := createKey(t, svc, "LIVE", "")
	for _, c := range []*authv1.CreateAPIKeyResponse{ci, live} {
		resp, err := svc.auth.VerifyAPIKey(ctx, &authv1.VerifyAPIKeyRequest{Key: c.GetKey()})
		if err != nil || !proto.Equal(resp.GetApiKey(), c.GetApiKey()) {
			t.Errorf("VerifyAPIKey(new key of %s) = %v, %v; want %v", c.GetApiKey().GetEnv(), resp, err, c.GetApiKey())
		}
	}
	checkList(t, svc, "before revoking", ci.GetApiKey(), live.GetApiKey())

	before := time.Now()
	for i := range 2 { // the second changes nothing
		if _, err := svc.admin.RevokeAPIKey(ctx, &authv1.RevokeAPIKeyRequest{Id: ci.GetApiKey().GetId()}); err != nil {
			t.Fatalf("RevokeAPIKey(ci) #%d error = %v", i+1, err)
		}
	}
	checkRefused(t, svc, "revoked key", ci.GetKey())
	if _, err := svc.auth.VerifyAPIKey(ctx, &authv1.VerifyAPIKeyRequest{Key: live.GetKey()}); err != nil {
		t.Errorf("VerifyAPIKey(live key) after revoking another = %v, want accepted", err)
	}
	list, err := svc.admin.ListAPIKeys(ctx, &authv1.ListAPIKeysRequest{})
	revokedAt := list.GetApiKeys()[0].GetRevokedAt().AsTime()
	if err != nil || revokedAt.Before(before.Truncate(time.Second)) || revokedAt.After(time.Now()) {
		t.Fatalf("ListAPIKeys() after RevokeAPIKey = %v, %v; want the first key revoked now", list, err)
	}
	revoked := proto.CloneOf(ci.GetApiKey())
	revoked.RevokedAt = list.GetApiKeys()[0].GetRevokedAt()
	checkList(t, svc, "after revoking", revoked, live.GetApiKey())

	// The stream carries the key's revocation once: the user's revocation
	// after it has the next seq.
	if _, err := svc.admin.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: 9}); err != nil {
		t.Fatalf("RevokeUser(9) error = %v", err)
	}
	got := w.until(2)
	want := &authv1.Revocation{Seq: 1, Target: &authv1.Revocation_ApiKeyId{ApiKeyId: ci.GetApiKey().GetId()}}
	if len(got) != 2 || !proto.Equal(got[0], want) || got[1].GetUserId() != 9 {
		t.Errorf("WatchRevocations carried %v, want %v then user 9's revocation", got, want)
	}

	// Restart: the keys and their states survive.
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	checkNoPlaintext(t, filepath.Join(cfg.DataDir, "auth.db"), ci.GetKey(), live.GetKey())
	svc = start(t, cfg)
	checkRefused(t, svc, "revoked key after restart", ci.GetKey())
	resp, err := svc.auth.VerifyAPIKey(callCtx(t), &authv1.VerifyAPIKeyRequest{Key: live.GetKey()})
	if err != nil || !proto.Equal(resp.GetApiKey(), live.GetApiKey()) {
		t.Errorf("VerifyAPIKey(live key) after restart = %v, %v; want %v", resp, err, live.GetApiKey())
	}
	checkList(t, svc, "after restart", revoked, live.GetApiKey())
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	for _, key := range []string{ci.GetKey(), live.GetKey()} {
		if strings.Contains(logs.String(), key[len("sk_"):]) {
			t.Errorf("the service's logs contain a key")
		}
	}
}

// checkNoPlaintext fails if the bbolt file at path holds any of keys, or
// their random parts, in any bucket's keys or values or anywhere in its
// bytes.
func checkNoPlaintext(t *testing.T, path string, keys ...string) {
	t.Helper()
	var secrets [][]byte
	for _, k := range keys {
		secrets = append(secrets, []byte(k), []byte(k[strings.LastIndexByte(k, '_')+1:]))
	}
	contains := func(b []byte) bool {
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				return true
			}
		}
		return false
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open(%s) error = %v", path, err)
	}
	defer db.Close()
	values := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				values++
				if contains(k) || contains(v) {
					t.Errorf("bucket %s entry %x holds a key in plaintext", name, k)
				}
				return nil
			})
		})
	})
	if err != nil || values == 0 {
		t.Fatalf("scan %s = %d values, %v; want some values, nil", path, values, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if contains(raw) {
		t.Errorf("the bytes of %s hold a key in plaintext", path)
	}
}

func TestVerifyAPIKeyMalformed(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	key := createKey(t, svc, "TEST01", "").GetKey()
	random := key[len("sk_TEST01_"):]
	flip := "A"
	if random[0] == 'A' {
		flip = "B"
	}
	tests := []struct {
		name string
		key  string
	}{
		{"unknown, well-formed", "sk_TEST01_" + flip + random[1:]},
		{"another env", "sk_TEST02_" + random},
		{"empty", ""},
		{"prefix only", "sk_"},
		{"wrong prefix", "pk_TEST01_" + random},
		{"no env", "sk__" + random},
		{"lowercase env", "sk_test01_" + random},
		{"env too long", "sk_" + strings.Repeat("A", 17) + "_" + random},
		{"random too short", key[:len(key)-1]},
		{"random too long", key + "A"},
		{"underscore in random", key[:len(key)-1] + "_"},
		{"leading space", " " + key},
		{"trailing newline", key + "\n"},
		{"over 200 bytes", key + strings.Repeat("A", 200)},
		{"a JWT", vectorLogin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRefused(t, svc, tt.name, tt.key) })
	}
	if _, err := svc.auth.VerifyAPIKey(callCtx(t), &authv1.VerifyAPIKeyRequest{Key: key}); err != nil {
		t.Errorf("VerifyAPIKey(the key) = %v, want accepted", err)
	}
}

func TestAPIKeyAdminErrors(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	ctx := callCtx(t)
	createKey(t, svc, strings.Repeat("Z", 16), strings.Repeat("é", 100)) // the longest env and name
	creates := []struct {
		name string
		req  *authv1.CreateAPIKeyRequest
	}{
		{"no env", &authv1.CreateAPIKeyRequest{Name: "x"}},
		{"lowercase env", &authv1.CreateAPIKeyRequest{Env: "test"}},
		{"underscore in env", &authv1.CreateAPIKeyRequest{Env: "TEST_01"}},
		{"env too long", &authv1.CreateAPIKeyRequest{Env: strings.Repeat("Z", 17)}},
		{"name too long", &authv1.CreateAPIKeyRequest{Env: "TEST01", Name: strings.Repeat("n", 101)}},
		{"newline in name", &authv1.CreateAPIKeyRequest{Env: "TEST01", Name: "a\nb"}},
	}
	for _, tt := range creates {
		if resp, err := svc.admin.CreateAPIKey(ctx, tt.req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("CreateAPIKey(%s) = %v, %v; want InvalidArgument", tt.name, resp, err)
		}
	}
	revokes := []struct {
		id   string
		want codes.Code
	}{
		{"", codes.InvalidArgument},
		{strings.Repeat("k", 65), codes.InvalidArgument},
		{"key_000000000000", codes.NotFound},
	}
	for _, tt := range revokes {
		if _, err := svc.admin.RevokeAPIKey(ctx, &authv1.RevokeAPIKeyRequest{Id: tt.id}); status.Code(err) != tt.want {
			t.Errorf("RevokeAPIKey(%q) error = %v, want %v", tt.id, err, tt.want)
		}
	}
	list, err := svc.admin.ListAPIKeys(ctx, &authv1.ListAPIKeysRequest{})
	if err != nil || len(list.GetApiKeys()) != 1 {
		t.Errorf("ListAPIKeys() after refused creates = %v, %v; want the one key", list, err)
	}
}
