package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("sbcrash -h = exit %d", code)
	}
	for _, f := range []string{"-kills", "-bin", "-seed", "-keep"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("sbcrash -h lacks %s:\n%s", f, stdout.String())
		}
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{[]string{"--kills", "x"}, nil, 2, "invalid value"},
		{[]string{"extra"}, nil, 2, `unexpected argument "extra"`},
		{[]string{"--kills", "1"}, map[string]string{"KILLS": "3"}, 1, "run make build"},
		{nil, map[string]string{"KILLS": "many"}, 2, "KILLS"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--bin", t.TempDir(), "--dir", t.TempDir()}, tt.args...)
		code := run(context.Background(), args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) || stdout.Len() != 0 {
			t.Errorf("sbcrash %v = exit %d, stderr %q, stdout %q; want exit %d, %q in stderr", tt.args, code, stderr.String(), stdout.String(), tt.code, tt.stderr)
		}
	}
}
