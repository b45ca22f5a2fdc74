// Package envflag defines command-line flags whose defaults come from
// environment variables, so that every binary is configured by environment
// first (containers, compose) with flags mirroring it (a laptop).
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Set is a flag.FlagSet whose flags read their defaults from an environment.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// New returns a Set named name that reads the environment through getenv
// (os.Getenv in a main, a map lookup in a test). Usage is written to out.
func New(name string, out io.Writer, getenv func(string) string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &Set{fs: fs, getenv: getenv}
}

// FlagSet returns the underlying flag set, for positional arguments.
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

func (s *Set) usage(env, usage string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s (env %s)", usage, env)
}

func (s *Set) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	v := s.getenv(env)
	return v, v != ""
}

// String defines a string flag defaulting to $env, else def.
func (s *Set) String(p *string, name, env, def, usage string) {
	if v, ok := s.lookup(env); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, s.usage(env, usage))
}

// Bytes defines a flag whose value is kept as raw bytes (a secret),
// defaulting to $env, else empty.
func (s *Set) Bytes(p *[]byte, name, env, usage string) {
	if v, ok := s.lookup(env); ok {
		*p = []byte(v)
	}
	s.fs.Func(name, s.usage(env, usage), func(v string) error {
		*p = []byte(v)
		return nil
	})
}

// Strings defines a comma-separated list flag defaulting to $env, else def.
func (s *Set) Strings(p *[]string, name, env string, def []string, usage string) {
	if v, ok := s.lookup(env); ok {
		def = splitList(v)
	}
	*p = def
	s.fs.Func(name, s.usage(env, usage+" (comma-separated)"), func(v string) error {
		*p = splitList(v)
		return nil
	})
}

// Duration defines a duration flag defaulting to $env, else def.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := s.lookup(env); ok {
		d, err := parseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, s.usage(env, usage))
}

// parseDuration reads a Go duration ("90s", "1h30m") or, in the
// environment only, a bare number of seconds ("60"): the Laravel backend's
// settings, such as JWT_LEEWAY, are written that way.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%d seconds is out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// Int defines an int flag defaulting to $env, else def.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, name, def, s.usage(env, usage))
}

// Int64 defines an int64 flag defaulting to $env, else def.
func (s *Set) Int64(p *int64, name, env string, def int64, usage string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		} else {
			def = n
		}
	}
	s.fs.Int64Var(p, name, def, s.usage(env, usage))
}

// Float64 defines a float64 flag defaulting to $env, else def.
func (s *Set) Float64(p *float64, name, env string, def float64, usage string) {
	if v, ok := s.lookup(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		} else {
			def = f
		}
	}
	s.fs.Float64Var(p, name, def, s.usage(env, usage))
}

// Bool defines a bool flag defaulting to $env, else def.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := s.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", env, v, err))
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, s.usage(env, usage))
}

// Parse parses args. It reports the first malformed environment value, then
// any flag error.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return fmt.Errorf("environment: %w", s.errs[0])
	}
	return s.fs.Parse(args)
}

// ParseCommand parses the arguments of a command that takes flags only:
// -h prints the usage to stdout, a malformed environment value, flag or
// an extra argument prints the error to stderr. When ok is false the
// command exits with code: 0 after the usage, 2 after an error.
func (s *Set) ParseCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	name := s.fs.Name()
	if err := s.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: %s [flags]\n", name)
			s.fs.SetOutput(stdout)
			s.fs.PrintDefaults()
			return 0, false
		}
		fmt.Fprintf(stderr, "%s: %v (run '%s -h')\n", name, err, name)
		return 2, false
	}
	if s.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, s.fs.Arg(0))
		return 2, false
	}
	return 0, true
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
