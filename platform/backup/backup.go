// Package backup serves switchboard.backup.v1.BackupService for a service
// that owns a bbolt file: a consistent snapshot of the file, streamed in
// chunks while the service keeps running. The store keeps owning its
// database; it hands over a Snapshot, a method that runs WriteDB (bbolt's
// Tx.WriteTo inside a read transaction) on it.
package backup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	backupv1 "switchboard.dev/api/gen/switchboard/backup/v1"
)

// ChunkSize is the most bytes in one BackupResponse: a multiple of 3 (so
// that the chunks' base64 concatenates, see the contract), far below gRPC's
// 4 MiB message limit.
const ChunkSize = 3 << 16 // 192 KiB

// spoolPattern names the spool files in Options.SpoolDir.
const spoolPattern = ".backup-*.tmp"

// Snapshot writes a consistent copy of a store to w and returns the bytes
// written: a store's method that runs WriteDB on its database.
type Snapshot func(w io.Writer) (int64, error)

// WriteDB writes a consistent copy of db to w, as of one read transaction,
// while writes go on; it returns the bytes written. The copy is a bbolt
// file that opens as is.
func WriteDB(db *bolt.DB, w io.Writer) (n int64, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot %s: %w", filepath.Base(db.Path()), err)
	}
	return n, nil
}

// Options configure New.
type Options struct {
	// FileName is the store's file name in its data folder (chat.db), sent
	// with the first chunk.
	FileName string
	// SpoolDir, when set, is where each backup is first copied, to a
	// temporary file removed when the stream ends: the store's read
	// transaction then lasts as long as a local copy, not as long as the
	// client takes to read the stream (a long read transaction blocks the
	// bbolt writers that need to grow the file). The service's data
	// folder is the natural place: same volume, writable, room for a
	// second copy. Empty streams from the read transaction directly.
	SpoolDir string
	// Logger receives a record per backup; nil discards them.
	Logger *slog.Logger
}

// Server implements BackupService over one store.
type Server struct {
	backupv1.UnimplementedBackupServiceServer

	snapshot Snapshot
	opts     Options
	log      *slog.Logger
}

var _ backupv1.BackupServiceServer = (*Server)(nil)

// New returns a Server that backs up with snapshot. It removes the spool
// files a crash during an earlier backup left in opts.SpoolDir.
func New(snapshot Snapshot, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.SpoolDir != "" {
		stale, _ := filepath.Glob(filepath.Join(opts.SpoolDir, spoolPattern))
		for _, p := range stale {
			if err := os.Remove(p); err != nil {
				log.Warn("remove stale backup spool file", "path", p, "err", err)
			}
		}
	}
	return &Server{snapshot: snapshot, opts: opts, log: log}
}

// Register serves a Server for snapshot on g.
func Register(g grpc.ServiceRegistrar, snapshot Snapshot, opts Options) {
	backupv1.RegisterBackupServiceServer(g, New(snapshot, opts))
}

// Backup streams a snapshot of the store.
func (s *Server) Backup(_ *backupv1.BackupRequest, stream grpc.ServerStreamingServer[backupv1.BackupResponse]) error {
	cw := &chunkWriter{stream: stream, name: s.opts.FileName}
	var err error
	if s.opts.SpoolDir == "" {
		_, err = s.snapshot(cw)
	} else {
		err = s.spooled(cw)
	}
	if err == nil {
		err = cw.flush()
	}
	if err != nil {
		if cw.sendErr != nil {
			// The client went away or the server is stopping: its status
			// is the stream's.
			return cw.sendErr
		}
		s.log.Error("backup failed", "file", s.opts.FileName, "bytes", cw.sent, "err", err)
		return status.Error(codes.Internal, "backup failed: see the service's log")
	}
	s.log.Info("backup streamed", "file", s.opts.FileName, "bytes", cw.sent)
	return nil
}

// spooled copies the snapshot to a spool file, then streams the file.
func (s *Server) spooled(cw *chunkWriter) (err error) {
	f, err := os.CreateTemp(s.opts.SpoolDir, spoolPattern)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer func() {
		err = errors.Join(err, f.Close(), os.Remove(f.Name()))
	}()
	if _, err := s.snapshot(f); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for {
		buf := make([]byte, ChunkSize) // gRPC may hold on to a sent message's bytes
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if err := cw.send(buf[:n]); err != nil {
				return err
			}
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return nil
		case rerr != nil:
			return fmt.Errorf("spool: %w", rerr)
		}
	}
}

// chunkWriter sends what is written to it as ChunkSize chunks.
type chunkWriter struct {
	stream  grpc.ServerStreamingServer[backupv1.BackupResponse]
	name    string // sent with the first chunk
	buf     []byte
	sent    int64
	started bool
	sendErr error // the stream's error, once a send failed
}

// Write buffers p, sending every full chunk.
func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, ChunkSize)
		}
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize {
			if err := w.send(w.buf); err != nil {
				return n - len(p), err
			}
			w.buf = nil // gRPC may hold on to a sent message's bytes
		}
	}
	return n, nil
}

// flush sends what is buffered, or an empty first chunk (with the file
// name) when nothing was sent at all.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 && w.started {
		return nil
	}
	err := w.send(w.buf)
	w.buf = nil
	return err
}

// send sends one chunk.
func (w *chunkWriter) send(p []byte) error {
	resp := &backupv1.BackupResponse{Data: p}
	if !w.started {
		resp.FileName = w.name
		w.started = true
	}
	if err := w.stream.Send(resp); err != nil {
		w.sendErr = err
		return err
	}
	w.sent += int64(len(p))
	return nil
}
