package apikey

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// valid is a well-formed key of env TEST01.
const valid = "sk_TEST01_0123456789ABCDEFGHIJKLMNOPQRSTUV"

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for _, env := range []string{"TEST01", "LIVE", "X", strings.Repeat("Z", MaxEnvLen)} {
		for range 50 {
			key, id, err := New(env)
			if err != nil {
				t.Fatalf("New(%q) error = %v", env, err)
			}
			if got, err := Parse(key); err != nil || got != env {
				t.Fatalf("Parse(New(%q)) = %q, %v; want %q, nil", env, got, err, env)
			}
			if want := len(Prefix) + len(env) + 1 + RandomLen; len(key) != want {
				t.Errorf("New(%q) key of %d bytes, want %d", env, len(key), want)
			}
			rest, ok := strings.CutPrefix(id, IDPrefix)
			if !ok || len(rest) != IDRandomLen || strings.Trim(rest, Alphabet) != "" {
				t.Errorf("New(%q) id = %q, want %s and %d base62 characters", env, id, IDPrefix, IDRandomLen)
			}
			if strings.Contains(key, id[len(IDPrefix):]) {
				t.Errorf("New(%q) id %q is part of the key", env, id)
			}
			if seen[key] || seen[id] {
				t.Fatalf("New(%q) repeated a key or id after %d", env, len(seen))
			}
			seen[key], seen[id] = true, true
		}
	}
}

func TestNewInvalidEnv(t *testing.T) {
	for _, env := range []string{"", "test", "TEST_01", strings.Repeat("A", MaxEnvLen+1), "TÉST"} {
		if key, id, err := New(env); err == nil {
			t.Errorf("New(%q) = %q, %q, nil; want an error", env, key, id)
		}
	}
}

func TestParse(t *testing.T) {
	random := valid[len("sk_TEST01_"):]
	tests := []struct {
		name    string
		key     string
		wantEnv string // "" when malformed
	}{
		{"valid", valid, "TEST01"},
		{"longest env", "sk_" + strings.Repeat("9", MaxEnvLen) + "_" + random, strings.Repeat("9", MaxEnvLen)},
		{"one-letter env", "sk_L_" + random, "L"},
		{"empty", "", ""},
		{"prefix only", "sk_", ""},
		{"wrong prefix", "pk_TEST01_" + random, ""},
		{"upper prefix", "SK_TEST01_" + random, ""},
		{"no separator", "sk_TEST01" + random, ""},
		{"empty env", "sk__" + random, ""},
		{"lowercase env", "sk_test01_" + random, ""},
		{"env too long", "sk_" + strings.Repeat("A", MaxEnvLen+1) + "_" + random, ""},
		{"random too short", valid[:len(valid)-1], ""},
		{"random too long", valid + "A", ""},
		{"underscore in random", valid[:len(valid)-1] + "_", ""},
		{"dash in random", valid[:len(valid)-1] + "-", ""},
		{"non-ASCII in random", valid[:len(valid)-2] + "é", ""},
		{"trailing newline", valid + "\n", ""},
		{"over the byte limit", valid + strings.Repeat("A", MaxKeyBytes), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse(tt.key)
			if tt.wantEnv == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("Parse(%q) = %q, %v; want ErrMalformed", tt.key, env, err)
				}
				if tt.key != "" && err != nil && strings.Contains(err.Error(), tt.key) {
					t.Errorf("Parse(%q) error %q quotes the key", tt.key, err)
				}
				return
			}
			if err != nil || env != tt.wantEnv {
				t.Errorf("Parse(%q) = %q, %v; want %q, nil", tt.key, env, err, tt.wantEnv)
			}
		})
	}
}

func TestHash(t *testing.T) {
	if Hash(valid) == Hash(valid[:len(valid)-1]+"W") {
		t.Errorf("Hash of two keys is the same")
	}
	if Hash(valid) != Hash(strings.Clone(valid)) {
		t.Errorf("Hash of one key differs between calls")
	}
}

// FuzzParse checks that Parse refuses only with ErrMalformed and never
// quotes the key in its error, and accepts only sk_<ENV>_<random> of the
// documented lengths, returning its ENV.
func FuzzParse(f *testing.F) {
	f.Add(valid)
	for at := range len(valid) + 1 {
		f.Add(valid[:at])
		f.Add(valid[at:])
	}
	f.Add("sk_TEST01_my0Secret1Token2Value3") // the bridge protocol's example, shorter than ours
	f.Add("sk__")
	f.Add("sk_" + strings.Repeat("9", MaxEnvLen) + "_" + valid[len("sk_TEST01_"):])
	f.Add("sk_TEST01_" + valid[len("sk_TEST01_"):len(valid)-1] + "é")
	f.Add(strings.Repeat("_", MaxKeyBytes+1))
	f.Fuzz(func(t *testing.T, key string) {
		env, err := Parse(key)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || env != "" {
				t.Fatalf("Parse(%q) = %q, %v; want \"\", ErrMalformed", key, env, err)
			}
			// The texts name the prefix, so only keys past it are looked for.
			if strings.HasPrefix(key, Prefix) && len(key) > len(Prefix) && strings.Contains(err.Error(), key) {
				t.Fatalf("Parse(%q) error %q quotes the key", key, err)
			}
			return
		}
		random, ok := strings.CutPrefix(key, Prefix+env+"_")
		if !ok || !ValidEnv(env) || len(random) != RandomLen || strings.Trim(random, Alphabet) != "" {
			t.Fatalf("Parse(%q) accepted env %q, want sk_<ENV>_<%d base62>", key, env, RandomLen)
		}
	})
}

// envPattern is ValidEnv's rule as a regular expression.
var envPattern = regexp.MustCompile(fmt.Sprintf(`^[A-Z0-9]{1,%d}$`, MaxEnvLen))

// FuzzValidEnv checks ValidEnv against its rule, and that New makes keys
// of exactly the valid environments, each of which parses back to its
// environment.
func FuzzValidEnv(f *testing.F) {
	for _, env := range []string{"TEST01", "LIVE", "X", strings.Repeat("Z", MaxEnvLen), "", "test", "TEST_01", strings.Repeat("A", MaxEnvLen+1), "TÉST", "A\n"} {
		f.Add(env)
	}
	f.Fuzz(func(t *testing.T, env string) {
		ok := ValidEnv(env)
		if ok != envPattern.MatchString(env) {
			t.Fatalf("ValidEnv(%q) = %v, want %v", env, ok, !ok)
		}
		key, id, err := New(env)
		if !ok {
			if err == nil || key != "" || id != "" {
				t.Fatalf("New(%q) = %q, %q, %v; want an error", env, key, id, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%q) error = %v", env, err)
		}
		if got, err := Parse(key); err != nil || got != env {
			t.Fatalf("Parse(New(%q)) = %q, %v; want %q", env, got, err, env)
		}
		if _, err := Parse(id); err == nil {
			t.Fatalf("Parse(key id %q) accepted a key id as a key", id)
		}
	})
}
