package sbctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	backupv1 "switchboard.dev/api/gen/switchboard/backup/v1"
	"switchboard.dev/cli/internal/rpcerr"
)

// DefaultBackupMaxTime bounds a whole backup: a store of gigabytes takes
// seconds on a LAN, so an hour means something is stuck.
const DefaultBackupMaxTime = time.Hour

// backupServices are the services that own a store, in the help's order.
var backupServices = []string{"auth", "chat", "presence", "signaling"}

func backupCommand(fs *flag.FlagSet) func(context.Context, *env) error {
	var (
		service, out string
		maxTime      time.Duration
	)
	fs.StringVar(&service, "service", "", "the service whose store is copied: auth, chat, presence or signaling")
	fs.StringVar(&out, "out", "", "the file to write (written to FILE.tmp, then renamed when complete)")
	fs.DurationVar(&maxTime, "max-time", DefaultBackupMaxTime, "deadline of the whole backup")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"service", service != ""}, flagCheck{"out", out != ""}); err != nil {
			return err
		}
		addr, ok := map[string]string{
			"auth": e.authAddr, "chat": e.chatAddr, "presence": e.presenceAddr, "signaling": e.signalingAddr,
		}[service]
		if !ok {
			return &usageError{fmt.Sprintf("--service %q: want one of %v", service, backupServices)}
		}
		if maxTime <= 0 {
			return &usageError{"--max-time must be positive"}
		}
		t := rpcerr.Target{Service: service, Addr: addr, Timeout: maxTime}
		cc, err := dial(t)
		if err != nil {
			return err
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(ctx, maxTime)
		defer cancel()
		stream, err := backupv1.NewBackupServiceClient(cc).Backup(ctx, &backupv1.BackupRequest{})
		if err != nil {
			return rpcerr.Describe(err, t, rpcerr.Subject{Name: "the backup"})
		}
		name, n, err := writeBackup(out, stream.Recv)
		if err != nil {
			var re recvError
			if errors.As(err, &re) {
				return rpcerr.Describe(re.err, t, rpcerr.Subject{Name: "the backup"})
			}
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "backed up %s (%s, %d bytes) to %s\n", service, name, n, out)
		return err
	}
}

// recvError is a failure of the stream, as opposed to one of the file.
type recvError struct{ err error }

func (e recvError) Error() string { return e.err.Error() }

// writeBackup writes the chunks recv returns until io.EOF to path: to
// path.tmp, synced, then renamed over path and the folder synced, so that
// path is either the previous file or a complete backup. It returns the
// store's file name and the bytes written; on failure path.tmp is removed.
func writeBackup(path string, recv func() (*backupv1.BackupResponse, error)) (name string, n int64, err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("backup file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	for first := true; ; first = false {
		chunk, rerr := recv()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", n, recvError{rerr}
		}
		if first {
			name = chunk.GetFileName()
		}
		k, werr := f.Write(chunk.GetData())
		n += int64(k)
		if werr != nil {
			return "", n, fmt.Errorf("backup file: %w", werr)
		}
	}
	if n == 0 {
		return "", 0, errors.New("the service sent an empty backup")
	}
	if err := f.Sync(); err != nil {
		return "", n, fmt.Errorf("backup file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", n, fmt.Errorf("backup file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", n, fmt.Errorf("backup file: %w", err)
	}
	// The rename is durable once the folder is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return name, n, nil
}
