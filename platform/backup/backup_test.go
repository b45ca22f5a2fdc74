package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	backupv1 "switchboard.dev/api/gen/switchboard/backup/v1"
	"switchboard.dev/platform/grpcserver"
)

var bucket = []byte("items")

// openDB opens a bbolt file in a fresh folder holding n keys of 1 KiB.
func openDB(t *testing.T, n int) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "test.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(key(i), value(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func key(i int) []byte   { return fmt.Appendf(nil, "k%08d", i) }
func value(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1024) }

// serve serves register on loopback until the test ends and returns a client.
func serve(t *testing.T, register func(*grpc.Server)) backupv1.BackupServiceClient {
	t.Helper()
	lis, err := grpcserver.Listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- grpcserver.Serve(ctx, lis, grpcserver.Options{}, register) }()
	t.Cleanup(func() { cancel(); <-done })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return backupv1.NewBackupServiceClient(cc)
}

// fetch runs Backup and returns the chunks.
func fetch(t *testing.T, c backupv1.BackupServiceClient) ([]*backupv1.BackupResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.Backup(ctx, &backupv1.BackupRequest{})
	if err != nil {
		return nil, err
	}
	var chunks []*backupv1.BackupResponse
	for range 10000 {
		r, err := stream.Recv()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, r)
	}
	t.Fatal("Backup() sent more than 10000 chunks")
	return nil, nil
}

func snapshotOf(db *bolt.DB) Snapshot {
	return func(w io.Writer) (int64, error) { return WriteDB(db, w) }
}

// TestBackupWhileWriting takes a backup while a writer keeps adding keys:
// the copy opens with bbolt and holds every key written before the call.
func TestBackupWhileWriting(t *testing.T) {
	const before = 1500 // about 1.5 MiB: several chunks
	for _, tt := range []struct {
		name  string
		spool bool
	}{
		{"streamed from the read transaction", false},
		{"spooled", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, before)
			opts := Options{FileName: "test.db"}
			if tt.spool {
				opts.SpoolDir = t.TempDir()
			}
			client := serve(t, func(g *grpc.Server) { Register(g, snapshotOf(db), opts) })

			stop := make(chan struct{})
			wrote := make(chan int)
			go func() { // the service keeps writing during the backup
				i := before
				defer func() { wrote <- i }()
				for ; i < before+10000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key(i), value(i)) }); err != nil {
						return
					}
				}
			}()
			chunks, err := fetch(t, client)
			close(stop)
			t.Logf("%d keys written during the backup", <-wrote-before)
			if err != nil {
				t.Fatalf("Backup() = %v", err)
			}

			var file bytes.Buffer
			for i, c := range chunks {
				if got, want := c.GetFileName(), map[bool]string{true: "test.db"}[i == 0]; got != want {
					t.Errorf("chunk %d file_name = %q, want %q", i, got, want)
				}
				if n := len(c.GetData()); n > ChunkSize || (i < len(chunks)-1 && (n == 0 || n%3 != 0)) {
					t.Errorf("chunk %d of %d has %d bytes, want a positive multiple of 3 up to %d (any size for the last)", i, len(chunks), n, ChunkSize)
				}
				file.Write(c.GetData())
			}
			if len(chunks) < 2 {
				t.Errorf("Backup() sent %d chunks of a %d-byte file, want several", len(chunks), file.Len())
			}
			checkCopy(t, file.Bytes(), before)
			if tt.spool {
				left, _ := filepath.Glob(filepath.Join(opts.SpoolDir, "*"))
				if len(left) != 0 {
					t.Errorf("spool folder holds %v after the backup, want nothing", left)
				}
			}
		})
	}
}

// checkCopy opens data as a bbolt file and checks its first n keys.
func checkCopy(t *testing.T, data []byte, n int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open(backup) = %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return errors.New("no bucket")
		}
		for i := range n {
			if got := b.Get(key(i)); !bytes.Equal(got, value(i)) {
				return fmt.Errorf("key %s = %d bytes, want its %d-byte value", key(i), len(got), len(value(i)))
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("backup content: %v", err)
	}
}

func TestBackupFailure(t *testing.T) {
	spool := t.TempDir()
	failing := func(w io.Writer) (int64, error) {
		n, _ := w.Write(make([]byte, 1000))
		return int64(n), errors.New("disk on fire")
	}
	client := serve(t, func(g *grpc.Server) { Register(g, failing, Options{FileName: "x.db", SpoolDir: spool}) })
	_, err := fetch(t, client)
	if status.Code(err) != codes.Internal {
		t.Errorf("Backup() of a failing snapshot = %v, want code Internal", err)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) != 0 {
		t.Errorf("spool folder holds %v after a failed backup, want nothing", left)
	}
}

func TestNewRemovesStaleSpoolFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".backup-123.tmp")
	keep := filepath.Join(dir, "chat.db")
	for _, p := range []string{stale, keep} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	New(snapshotOf(openDB(t, 1)), Options{SpoolDir: dir})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale spool file after New: Stat() = %v, want not exist", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the store's file after New: Stat() = %v, want it kept", err)
	}
}
