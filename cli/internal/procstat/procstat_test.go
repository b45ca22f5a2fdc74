package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRSSOfSelf(t *testing.T) {
	kib, err := RSS(os.Getpid())
	if err != nil {
		t.Fatalf("RSS(self): %v", err)
	}
	if kib <= 0 {
		t.Errorf("RSS(self) = %d KiB, want > 0", kib)
	}
}

func TestRSSFrom(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          int64
		wantErr       bool
	}{
		{"normal", "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n", 1234, false},
		{"missing", "Name:\tx\n", 0, true},
		{"malformed", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := rssFrom(path)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("rssFrom(%s) = %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := RSS(-1); err == nil {
		t.Errorf("RSS(-1) error = nil, want one")
	}
}
