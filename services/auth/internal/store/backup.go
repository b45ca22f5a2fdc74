package store

import (
	"io"

	"switchboard.dev/platform/backup"
)

// WriteTo writes a consistent copy of the store's bbolt file to w, as of
// one read transaction, while writes go on; it returns the bytes written.
// The BackupService (platform/backup) streams it.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	return backup.WriteDB(s.db, w)
}
