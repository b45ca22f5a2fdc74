// Package apikey makes, parses and hashes the API secret keys of the
// bridge's clients, sk_<ENV>_<random>, and their public ids.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Format of a key: Prefix, then the environment, then '_', then
// RandomLen characters of Alphabet.
const (
	// Prefix starts every key.
	Prefix = "sk_"
	// MaxEnvLen bounds an environment name, 1 to MaxEnvLen of A-Z and 0-9.
	MaxEnvLen = 16
	// RandomLen is the length of a key's random part: 32 base62 characters
	// carry 190 bits from crypto/rand.
	RandomLen = 32
	// MaxKeyBytes refuses a longer key before looking at it. Valid keys are
	// far shorter (at most 52 bytes); the margin leaves the format room to
	// grow without a change here.
	MaxKeyBytes = 200
	// IDPrefix starts every key id.
	IDPrefix = "key_"
	// IDRandomLen is the length of a key id's random part (71 bits).
	IDRandomLen = 12
	// MaxIDBytes bounds a key id an admin call may name.
	MaxIDBytes = 64
)

// Alphabet is base62: URL-safe and without '_', so that a key's random part
// never contains its separator and a double click selects the whole key.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed refuses a string that is not a well-formed key.
var ErrMalformed = errors.New("malformed api key")

// ValidEnv reports whether env is 1 to MaxEnvLen characters of A-Z and 0-9.
func ValidEnv(env string) bool {
	if env == "" || len(env) > MaxEnvLen {
		return false
	}
	for i := range len(env) {
		if c := env[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// New returns a new key of env, which must be valid, and a new key id.
func New(env string) (key, id string, err error) {
	if !ValidEnv(env) {
		return "", "", fmt.Errorf("new api key: invalid env %q", env)
	}
	random, err := randomString(RandomLen)
	if err != nil {
		return "", "", fmt.Errorf("new api key: %w", err)
	}
	idRandom, err := randomString(IDRandomLen)
	if err != nil {
		return "", "", fmt.Errorf("new api key id: %w", err)
	}
	return Prefix + env + "_" + random, IDPrefix + idRandom, nil
}

// randomString returns n characters of Alphabet, each uniform, from
// crypto/rand.
func randomString(n int) (string, error) {
	// Bytes at or above the largest multiple of 62 are rejected, so that
	// b%62 is uniform: 248/256 are kept, so 2n bytes almost always suffice.
	const limit = 256 - 256%len(Alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, Alphabet[int(b)%len(Alphabet)])
			}
		}
	}
	return string(out), nil
}

// Parse checks that key is sk_<ENV>_<random> and returns its environment,
// or ErrMalformed. The error never quotes the key.
func Parse(key string) (env string, err error) {
	if len(key) > MaxKeyBytes {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxKeyBytes)
	}
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", fmt.Errorf("%w: no %s prefix", ErrMalformed, Prefix)
	}
	env, random, ok := strings.Cut(rest, "_")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: no environment separator", ErrMalformed)
	case !ValidEnv(env):
		return "", fmt.Errorf("%w: invalid environment", ErrMalformed)
	case len(random) != RandomLen:
		return "", fmt.Errorf("%w: random part of %d bytes, want %d", ErrMalformed, len(random), RandomLen)
	}
	for i := range len(random) {
		if strings.IndexByte(Alphabet, random[i]) < 0 {
			return "", fmt.Errorf("%w: random part outside base62", ErrMalformed)
		}
	}
	return env, nil
}

// Hash is the SHA-256 of the whole key, the only form in which a key is
// stored. A fast hash is right here, unlike for passwords: a key carries 190
// random bits, so no guess list or brute force can invert its hash, and a
// slow hash would only slow down every verification.
func Hash(key string) [sha256.Size]byte {
	return sha256.Sum256([]byte(key))
}
