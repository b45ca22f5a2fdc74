package procstat

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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

func TestCPU(t *testing.T) {
	stat := []byte("4242 (sw itch (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 123 456 789")
	got, err := cpuFrom(stat)
	if err != nil || got != 3250*time.Millisecond {
		t.Errorf("cpuFrom(utime 250, stime 75) = %v, %v; want 3.25s", got, err)
	}
	if _, err := cpuFrom([]byte("42 (short) S 1")); err == nil {
		t.Error("cpuFrom(truncated stat) = nil error, want one")
	}
	// This process has used some CPU, and the counter never goes back.
	a, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5_000_000; i++ {
		_ = i * i
	}
	if b, err := CPU(os.Getpid()); err != nil || b < a {
		t.Errorf("CPU later = %v, %v; want ≥ %v", b, err, a)
	}
}
