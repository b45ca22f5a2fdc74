package sbctl

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"

	"switchboard.dev/cli/internal/servicetest"
	"switchboard.dev/platform/backup"
)

// boltStore is a bbolt file with n 1 KiB values in bucket "b", served by
// the BackupService as a service serves its store.
func boltStore(t *testing.T, n int) (*bolt.DB, string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "chat.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, bytes.Repeat([]byte{byte(i)}, 1024)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snap := func(w io.Writer) (int64, error) { return backup.WriteDB(db, w) }
	addr := servicetest.Serve(t, func(g *grpc.Server) {
		backup.Register(g, snap, backup.Options{FileName: "chat.db", SpoolDir: t.TempDir()})
	})
	return db, addr
}

// keysIn opens path as a bbolt file and returns how many keys bucket "b" holds.
func keysIn(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open(%s) = %v", path, err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return errors.New("no bucket b")
		}
		n = b.Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

func TestBackup(t *testing.T) {
	const keys = 600 // several chunks
	_, addr := boltStore(t, keys)
	out := filepath.Join(t.TempDir(), "chat-backup.db")
	r := run(t, map[string]string{"CHAT_ADDR": addr}, "backup", "--service", "chat", "--out", out)
	if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "backed up chat (chat.db, ") {
		t.Fatalf("backup = exit %d, stdout %q, stderr %q; want 0 and backed up chat (chat.db, ...)", r.code, r.stdout, r.stderr)
	}
	if got := keysIn(t, out); got != keys {
		t.Errorf("the backup holds %d keys, want %d", got, keys)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("Stat(%s.tmp) = %v after the backup, want not exist", out, err)
	}
}

func TestBackupErrors(t *testing.T) {
	_, addr := boltStore(t, 1)
	dir := t.TempDir()
	previous := filepath.Join(dir, "previous.db")
	if err := os.WriteFile(previous, []byte("the last good backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no service", nil, []string{"--out", previous}, 2, "--service is required"},
		{"no out", nil, []string{"--service", "chat"}, 2, "--out is required"},
		{"unknown service", nil, []string{"--service", "edge", "--out", previous}, 2, `--service "edge"`},
		{"service down", map[string]string{"SIGNALING_ADDR": deadAddr(t)}, []string{"--service", "signaling", "--out", previous}, 1, "signaling"},
		{"folder missing", map[string]string{"CHAT_ADDR": addr}, []string{"--service", "chat", "--out", filepath.Join(dir, "no", "such.db")}, 1, "backup file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.env, append([]string{"backup"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("backup %v = exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
			}
			if got, _ := os.ReadFile(previous); string(got) != "the last good backup" {
				t.Errorf("after a failed backup the file holds %q, want the previous content", got)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) != 0 {
				t.Errorf("a failed backup left %v", left)
			}
		})
	}
}
