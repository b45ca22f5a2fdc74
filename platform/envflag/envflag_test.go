package envflag

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultsFromEnvironmentAndFlags(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantAddr string
		wantN    int
		wantD    time.Duration
		wantB    bool
		wantList []string
	}{
		{name: "defaults", wantAddr: ":1", wantN: 7, wantD: time.Second, wantList: []string{"a"}},
		{
			name:     "environment",
			env:      map[string]string{"ADDR": ":2", "N": "8", "D": "2s", "B": "true", "L": "x, y,,z"},
			wantAddr: ":2", wantN: 8, wantD: 2 * time.Second, wantB: true, wantList: []string{"x", "y", "z"},
		},
		{
			name:     "bare seconds in the environment, as Laravel writes JWT_LEEWAY",
			env:      map[string]string{"D": "60"},
			wantAddr: ":1", wantN: 7, wantD: time.Minute, wantList: []string{"a"},
		},
		{
			name:     "flags win over environment",
			env:      map[string]string{"ADDR": ":2", "N": "8"},
			args:     []string{"-addr", ":3", "-n", "9", "-d", "3s", "-b", "-l", "q"},
			wantAddr: ":3", wantN: 9, wantD: 3 * time.Second, wantB: true, wantList: []string{"q"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("test", io.Discard, func(k string) string { return tt.env[k] })
			var (
				addr string
				n    int
				d    time.Duration
				b    bool
				list []string
			)
			s.String(&addr, "addr", "ADDR", ":1", "address")
			s.Int(&n, "n", "N", 7, "count")
			s.Duration(&d, "d", "D", time.Second, "duration")
			s.Bool(&b, "b", "B", false, "switch")
			s.Strings(&list, "l", "L", []string{"a"}, "list")
			if err := s.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%q) = %v", tt.args, err)
			}
			if addr != tt.wantAddr || n != tt.wantN || d != tt.wantD || b != tt.wantB || !slices.Equal(list, tt.wantList) {
				t.Errorf("got addr=%q n=%d d=%v b=%v list=%q, want %q %d %v %v %q",
					addr, n, d, b, list, tt.wantAddr, tt.wantN, tt.wantD, tt.wantB, tt.wantList)
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	env := map[string]string{"I": "9000000000", "F": "2.5"}
	s := New("test", io.Discard, func(k string) string { return env[k] })
	var (
		i, i2 int64
		f, f2 float64
	)
	s.Int64(&i, "i", "I", 1, "")
	s.Float64(&f, "f", "F", 1, "")
	s.Int64(&i2, "i2", "I2", 7, "")
	s.Float64(&f2, "f2", "F2", 0.5, "")
	if err := s.Parse([]string{"-f2", "3.25"}); err != nil {
		t.Fatal(err)
	}
	if i != 9000000000 || f != 2.5 || i2 != 7 || f2 != 3.25 {
		t.Errorf("got i=%d f=%v i2=%d f2=%v, want 9000000000 2.5 7 3.25", i, f, i2, f2)
	}
}

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		env  string
		args []string
		want string
	}{
		{"", nil, ""},
		{"from-env", nil, "from-env"},
		{"from-env", []string{"-secret", "from-flag"}, "from-flag"},
	} {
		s := New("test", io.Discard, func(k string) string {
			if k == "SECRET" {
				return tt.env
			}
			return ""
		})
		var secret []byte
		s.Bytes(&secret, "secret", "SECRET", "a secret")
		if err := s.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if string(secret) != tt.want {
			t.Errorf("Bytes with env %q args %q = %q, want %q", tt.env, tt.args, secret, tt.want)
		}
	}
}

func TestMalformedEnvironmentIsAnError(t *testing.T) {
	for _, env := range []map[string]string{{"N": "x"}, {"D": "5x"}, {"D": "-5"}, {"D": "99999999999999"}, {"B": "maybe"}, {"I": "1.5"}, {"F": "fast"}} {
		s := New("test", io.Discard, func(k string) string { return env[k] })
		var (
			n int
			d time.Duration
			b bool
			i int64
			f float64
		)
		s.Int(&n, "n", "N", 1, "")
		s.Duration(&d, "d", "D", time.Second, "")
		s.Bool(&b, "b", "B", false, "")
		s.Int64(&i, "i", "I", 1, "")
		s.Float64(&f, "f", "F", 1, "")
		if err := s.Parse(nil); err == nil {
			t.Errorf("Parse with env %v = nil, want an error", env)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, tt := range []struct {
		args           []string
		env            map[string]string
		code           int
		ok             bool
		stdout, stderr string
	}{
		{[]string{"-n", "3"}, nil, 0, true, "", ""},
		{[]string{"-h"}, nil, 0, false, "Usage: cmd [flags]\n  -n int\n    \tcount (env N) (default 1)\n", ""},
		{[]string{"-n", "x"}, nil, 2, false, "", "cmd: invalid value \"x\" for flag -n: parse error (run 'cmd -h')\n"},
		{[]string{"extra"}, nil, 2, false, "", "cmd: unexpected argument \"extra\"\n"},
		{nil, map[string]string{"N": "many"}, 2, false, "", "cmd: environment: N=\"many\": "},
	} {
		var n int
		var stdout, stderr strings.Builder
		s := New("cmd", io.Discard, func(k string) string { return tt.env[k] })
		s.Int(&n, "n", "N", 1, "count")
		code, ok := s.ParseCommand(tt.args, &stdout, &stderr)
		if code != tt.code || ok != tt.ok || stdout.String() != tt.stdout || !strings.HasPrefix(stderr.String(), tt.stderr) || (tt.stderr == "") != (stderr.Len() == 0) {
			t.Errorf("ParseCommand(%v, env %v) = %d, %v, stdout %q, stderr %q; want %d, %v, %q, %q…", tt.args, tt.env, code, ok, stdout.String(), stderr.String(), tt.code, tt.ok, tt.stdout, tt.stderr)
		}
	}
}
