// Package procstat reads a process's memory use from Linux's /proc.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// RSS returns the resident set size of process pid in KiB (VmRSS of
// /proc/PID/status).
func RSS(pid int) (int64, error) {
	return rssFrom(filepath.Join("/proc", strconv.Itoa(pid), "status"))
}

func rssFrom(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("read rss: %s: malformed VmRSS line %q", path, sc.Text())
		}
		n, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read rss: %s: %w", path, err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read rss: %s: %w", path, err)
	}
	return 0, fmt.Errorf("read rss: %s has no VmRSS (a kernel thread or a zombie?)", path)
}
