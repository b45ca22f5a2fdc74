package token

import (
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify checks that Verify never panics, refuses only with its
// sentinels, and accepts only tokens that jwt itself verifies with the key.
func FuzzVerify(f *testing.F) {
	for _, tok := range []string{vectorLogin, vectorRefresh, vectorExpired} {
		f.Add(tok)
		for _, at := range []int{0, 1, 10, 36, 37, 100, len(tok) / 2, len(tok) - 44, len(tok) - 1} {
			f.Add(tok[:at])
			f.Add(tok[at:])
		}
	}
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30.")
	secret := []byte(laravelSecret)
	v := newVerifier(f, Config{})
	check := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(tok)
		if err != nil {
			if errors.Is(err, ErrInvalid) == errors.Is(err, ErrExpired) {
				t.Fatalf("Verify(%q) error = %v, want exactly one of ErrInvalid, ErrExpired", tok, err)
			}
			return
		}
		if _, jerr := check.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil }); jerr != nil {
			t.Fatalf("Verify(%q) accepted %+v, but jwt.Parse with the key says %v", tok, got, jerr)
		}
		if got.UserID <= 0 || got.ExpiresAt.IsZero() {
			t.Fatalf("Verify(%q) accepted %+v, want a positive user id and an expiry", tok, got)
		}
	})
}
