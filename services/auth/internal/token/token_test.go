package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The test vectors of shared/spec/laravel-tokens.md.
const (
	laravelSecret = "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"
	vectorLogin   = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IlhrM2ZQOXFMbTJadDdCdzEiLCJzdWIiOiIxMjMiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.z4PrgrUdpE49OgMEI2Qgjoxy_FYcqUG4Eh_Z3vJEjy0"
	vectorRefresh = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9yZWZyZXNoIiwiaWF0IjoxNzY3MjI1NjAwLjEyMzQ1NiwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAuMTIzNDU2LCJqdGkiOiJRYThSdDVZdTFJbzNQbDZLIiwic3ViIjoxMjQsInBydiI6IjIzYmQ1Yzg5NDlmNjAwYWRiMzllNzAxYzQwMDg3MmRiN2E1OTc2ZjciLCJuaWNrbmFtZSI6Ilx1YzBhY1x1YzZhOVx1Yzc5MDEifQ.rBSSSUjT7hFgR1VyHdJNuYEuIScRcocdHV-SDNJ8D-w"
	vectorExpired = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MjI5MjAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IkV4MVBpMlJlM0RkNFRrNU4iLCJzdWIiOiIxMjUiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.M4tc2I8d-Jlq14EoOWG9zC2VIehfFrEd37qwzZ3Qv6w"

	issuerLogin   = "https://api.example.com/api/auth/login"
	issuerRefresh = "https://api.example.com/api/auth/refresh"
)

// testNow is a fixed clock inside the vectors' validity (2026-06-01), so
// that the tests do not depend on the machine's date.
var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.Algo == "" {
		cfg.Algo = "HS256"
	}
	if cfg.Algo[:2] == "HS" && cfg.Secret == nil {
		cfg.Secret = []byte(laravelSecret)
	}
	if cfg.Now == nil {
		cfg.Now = fixedClock
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s) error = %v", cfg.Algo, err)
	}
	return v
}

// sign mints a token like jwt-auth would, with claims given as a map so that
// tests can put any JSON type in any claim.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s) error = %v", method.Alg(), err)
	}
	return s
}

// laravel returns the claims of a fresh login token at testNow, for user 7.
func laravel() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": issuerLogin,
		"iat": testNow.Unix(),
		"nbf": testNow.Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
		"jti": "jti-7",
		"sub": "7",
		"prv": "23bd5c8949f600adb39e701c400872db7a5976f7",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func without(c jwt.MapClaims, names ...string) jwt.MapClaims {
	for _, n := range names {
		delete(c, n)
	}
	return c
}

func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode payload of %.20s…: %v", tok, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal payload %s: %v", b, err)
	}
	return m
}

func TestLaravelVectors(t *testing.T) {
	refreshNick, ok := payload(t, vectorRefresh)["nickname"].(string)
	if !ok || refreshNick != "사용자1" {
		t.Fatalf("vector 2 nickname claim = %q, want %q", refreshNick, "사용자1")
	}
	for _, now := range []time.Time{testNow, time.Now()} {
		v := newVerifier(t, Config{Now: func() time.Time { return now }})
		tests := []struct {
			name    string
			tok     string
			want    Claims
			wantErr error
		}{
			{"login string sub", vectorLogin, Claims{UserID: 123, ExpiresAt: time.Unix(4102444800, 0), ID: "Xk3fP9qLm2Zt7Bw1", IssuedAt: time.Unix(1767225600, 0)}, nil},
			{"refresh number sub float times", vectorRefresh, Claims{UserID: 124, Nickname: refreshNick, ExpiresAt: time.Unix(4102444800, 0), ID: "Qa8Rt5Yu1Io3Pl6K", IssuedAt: time.Unix(1767225600, 0)}, nil},
			{"expired", vectorExpired, Claims{}, ErrExpired},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := v.Verify(tt.tok)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("Verify(vector %s) at %v error = %v, want %v", tt.name, now, err, tt.wantErr)
				}
				if !got.ExpiresAt.Equal(tt.want.ExpiresAt) || got.UserID != tt.want.UserID || got.Nickname != tt.want.Nickname || got.ID != tt.want.ID ||
					!got.IssuedAt.Equal(tt.want.IssuedAt) {
					t.Errorf("Verify(vector %s) = %+v, want %+v", tt.name, got, tt.want)
				}
			})
		}
	}
}

func TestExpiredIsNotInvalid(t *testing.T) {
	v := newVerifier(t, Config{})
	_, err := v.Verify(vectorExpired)
	if !errors.Is(err, ErrExpired) || errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(expired vector) error = %v, want ErrExpired only", err)
	}
}

func rsaKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, publicPEM(t, &k.PublicKey)
}

func ecKey(t testing.TB, c elliptic.Curve) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, publicPEM(t, &k.PublicKey)
}

func publicPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestPublicKeyAlgorithms(t *testing.T) {
	rk, rpem := rsaKey(t)
	ek, epem := ecKey(t, elliptic.P256())
	ek384, epem384 := ecKey(t, elliptic.P384())
	tests := []struct {
		algo   string
		method jwt.SigningMethod
		priv   any
		pem    []byte
	}{
		{"RS256", jwt.SigningMethodRS256, rk, rpem},
		{"RS512", jwt.SigningMethodRS512, rk, rpem},
		{"ES256", jwt.SigningMethodES256, ek, epem},
		{"ES384", jwt.SigningMethodES384, ek384, epem384},
	}
	for _, tt := range tests {
		t.Run(tt.algo, func(t *testing.T) {
			v := newVerifier(t, Config{Algo: tt.algo, PublicKeyPEM: tt.pem})
			tok := sign(t, tt.method, tt.priv, with(laravel(), "nickname", "bob"))
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify(%s token) error = %v, want nil", tt.algo, err)
			}
			if got.UserID != 7 || got.Nickname != "bob" || got.ID != "jti-7" {
				t.Errorf("Verify(%s token) = %+v, want user 7 bob jti-7", tt.algo, got)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	rk, rpem := rsaKey(t)
	otherRSA, _ := rsaKey(t)
	secret := []byte(laravelSecret)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, c) }

	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, laravel())
	loginParts := strings.Split(vectorLogin, ".")
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(
		`{"iss":"https://api.example.com/api/auth/login","iat":1767225600,"exp":4102444800,"nbf":1767225600,"jti":"Xk3fP9qLm2Zt7Bw1","sub":"1","prv":"23bd5c8949f600adb39e701c400872db7a5976f7"}`))

	tests := []struct {
		name string
		cfg  Config
		tok  string
		want error
	}{
		{"alg none", Config{}, noneTok, ErrInvalid},
		{"alg none unsigned header", Config{}, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + loginParts[1] + ".", ErrInvalid},
		{"HS256 with RSA public PEM as secret", Config{Algo: "RS256", PublicKeyPEM: rpem}, sign(t, jwt.SigningMethodHS256, rpem, laravel()), ErrInvalid},
		{"RS256 signed by another key", Config{Algo: "RS256", PublicKeyPEM: rpem}, sign(t, jwt.SigningMethodRS256, otherRSA, laravel()), ErrInvalid},
		{"RS384 when RS256 configured", Config{Algo: "RS256", PublicKeyPEM: rpem}, sign(t, jwt.SigningMethodRS384, rk, laravel()), ErrInvalid},
		{"HS512 when HS256 configured", Config{}, sign(t, jwt.SigningMethodHS512, secret, laravel()), ErrInvalid},
		{"wrong secret", Config{Secret: []byte("not-the-secret")}, vectorLogin, ErrInvalid},
		{"tampered payload", Config{}, loginParts[0] + "." + tamperedPayload + "." + loginParts[2], ErrInvalid},
		{"tampered signature", Config{}, vectorLogin[:len(vectorLogin)-3] + "AAA", ErrInvalid},
		{"not a JWT", Config{}, "hello", ErrInvalid},
		{"empty", Config{}, "", ErrInvalid},
		{"nbf in the future", Config{}, hs(with(laravel(), "nbf", testNow.Add(time.Minute).Unix())), ErrInvalid},
		{"no exp", Config{}, hs(without(laravel(), "exp")), ErrInvalid},
		{"expired", Config{}, hs(with(laravel(), "exp", testNow.Add(-time.Second).Unix())), ErrExpired},
		{"expired float exp", Config{}, hs(with(laravel(), "exp", float64(testNow.Unix())-0.5)), ErrExpired},
		{"expired from another issuer", Config{Issuers: []string{issuerRefresh}}, hs(with(laravel(), "exp", testNow.Add(-time.Hour).Unix())), ErrInvalid},
		{"expired non-numeric sub", Config{}, hs(with(laravel(), "sub", "abc", "exp", testNow.Add(-time.Hour).Unix())), ErrInvalid},
		{"exp not a number", Config{}, hs(with(laravel(), "exp", "tomorrow")), ErrInvalid},
		{"non-numeric sub", Config{}, hs(with(laravel(), "sub", "abc")), ErrInvalid},
		{"email sub", Config{}, hs(with(laravel(), "sub", "a@b.c")), ErrInvalid},
		{"missing sub", Config{}, hs(without(laravel(), "sub")), ErrInvalid},
		{"null sub", Config{}, hs(with(laravel(), "sub", nil)), ErrInvalid},
		{"zero sub", Config{}, hs(with(laravel(), "sub", 0)), ErrInvalid},
		{"zero string sub", Config{}, hs(with(laravel(), "sub", "0")), ErrInvalid},
		{"negative sub", Config{}, hs(with(laravel(), "sub", -5)), ErrInvalid},
		{"signed string sub", Config{}, hs(with(laravel(), "sub", "+5")), ErrInvalid},
		{"leading zero sub", Config{}, hs(with(laravel(), "sub", "007")), ErrInvalid},
		{"escaped sign sub", Config{}, signBytes(t, jwt.SigningMethodHS256, secret, []byte(`{"sub":"\u002b5","exp":4102444800}`)), ErrInvalid},
		{"fractional sub", Config{}, hs(with(laravel(), "sub", 1.5)), ErrInvalid},
		{"exponent sub", Config{}, hs(with(laravel(), "sub", json.Number("1e3"))), ErrInvalid},
		{"overflowing sub", Config{}, hs(with(laravel(), "sub", "9223372036854775808")), ErrInvalid},
		{"array sub", Config{}, hs(with(laravel(), "sub", []int{7})), ErrInvalid},
		{"issuer not listed", Config{Issuers: []string{issuerRefresh}}, hs(laravel()), ErrInvalid},
		{"no issuer with list", Config{Issuers: []string{issuerLogin}}, hs(without(laravel(), "iss")), ErrInvalid},
		// Found while seeding FuzzVerifyClaims: jwt wrapped such seconds around, to
		// the distant past: the nbf passed, the exp had passed.
		{"nbf beyond 2^53 seconds", Config{}, signBytes(t, jwt.SigningMethodHS256, secret, []byte(`{"sub":"7","exp":4102444800,"nbf":1e19}`)), ErrInvalid},
		{"nbf near 2^63 seconds", Config{}, signBytes(t, jwt.SigningMethodHS256, secret, []byte(`{"sub":"7","exp":4102444800,"nbf":9223372000000000000}`)), ErrInvalid},
		{"exp beyond 2^53 seconds", Config{}, hs(with(laravel(), "exp", 1e19)), ErrInvalid},
		{"iat beyond 2^53 seconds", Config{}, hs(with(laravel(), "iat", -1e19)), ErrInvalid},
		// Found while seeding FuzzVerifyPublicKey: jwt.Parse refused it, Verify did not.
		{"data after the claims", Config{}, signBytes(t, jwt.SigningMethodHS256, secret, []byte(`{"sub":"7","exp":4102444800} {"sub":"8"}`)), ErrInvalid},
		{"over MaxTokenBytes", Config{MaxTokenBytes: 100}, vectorLogin, ErrInvalid},
		{"over default MaxTokenBytes", Config{}, hs(with(laravel(), "pad", strings.Repeat("x", DefaultMaxTokenBytes))), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			got, err := v.Verify(tt.tok)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%s) = %+v, %v; want error %v", tt.name, got, err, tt.want)
			}
			if got != (Claims{}) {
				t.Errorf("Verify(%s) claims = %+v, want zero with error", tt.name, got)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	secret := []byte(laravelSecret)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, c) }
	tests := []struct {
		name     string
		cfg      Config
		tok      string
		wantUser int64
		wantNick string
	}{
		{"number sub", Config{}, hs(with(laravel(), "sub", 42)), 42, ""},
		{"largest sub", Config{}, hs(with(laravel(), "sub", "9223372036854775807")), 9223372036854775807, ""},
		// Found by FuzzVerifyClaims: the string was read by its bytes.
		{"escaped digits sub", Config{}, signBytes(t, jwt.SigningMethodHS256, secret, []byte(`{"sub":"\u0034\u0032","exp":4102444800}`)), 42, ""},
		{"name claim", Config{}, hs(with(laravel(), "name", "Ann")), 7, "Ann"},
		{"nickname before name", Config{}, hs(with(laravel(), "name", "Ann", "nickname", "annie")), 7, "annie"},
		{"empty nickname falls to name", Config{}, hs(with(laravel(), "name", "Ann", "nickname", "")), 7, "Ann"},
		{"non-string nickname ignored", Config{}, hs(with(laravel(), "nickname", 5)), 7, ""},
		{"no nbf no iat no jti", Config{}, hs(without(laravel(), "nbf", "iat", "jti")), 7, ""},
		{"aud ignored", Config{}, hs(with(laravel(), "aud", "someone")), 7, ""},
		{"issuer listed", Config{Issuers: []string{issuerRefresh, issuerLogin}}, hs(laravel()), 7, ""},
		{"any issuer without list", Config{}, hs(with(laravel(), "iss", "https://elsewhere")), 7, ""},
		{"just expired within leeway", Config{Leeway: 30 * time.Second}, hs(with(laravel(), "exp", testNow.Add(-10*time.Second).Unix())), 7, ""},
		{"nbf ahead within leeway", Config{Leeway: 30 * time.Second}, hs(with(laravel(), "nbf", testNow.Add(10*time.Second).Unix())), 7, ""},
		{"float times", Config{}, hs(with(laravel(), "iat", 1780272000.654321, "nbf", 1780272000.654321, "exp", 1780275600.5)), 7, ""},
		{"HS384", Config{Algo: "HS384"}, sign(t, jwt.SigningMethodHS384, secret, laravel()), 7, ""},
		{"HS512", Config{Algo: "HS512"}, sign(t, jwt.SigningMethodHS512, secret, laravel()), 7, ""},
		{"exactly MaxTokenBytes", Config{MaxTokenBytes: len(vectorLogin)}, vectorLogin, 123, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			got, err := v.Verify(tt.tok)
			if err != nil {
				t.Fatalf("Verify(%s) error = %v, want nil", tt.name, err)
			}
			if got.UserID != tt.wantUser || got.Nickname != tt.wantNick {
				t.Errorf("Verify(%s) = %+v, want user %d nickname %q", tt.name, got, tt.wantUser, tt.wantNick)
			}
		})
	}
}

// TestIssuedAt checks that iat comes out in whole seconds (jwt-auth may
// write microseconds) and zero when the token has none.
func TestIssuedAt(t *testing.T) {
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(laravelSecret), c) }
	tests := []struct {
		name string
		tok  string
		want time.Time
	}{
		{"integer iat", hs(laravel()), testNow},
		{"float iat", hs(with(laravel(), "iat", float64(testNow.Unix())+0.654321)), testNow},
		{"iat in the future", hs(with(laravel(), "iat", testNow.Add(time.Minute).Unix())), testNow.Add(time.Minute)},
		{"no iat", hs(without(laravel(), "iat")), time.Time{}},
	}
	v := newVerifier(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.tok)
			if err != nil || !got.IssuedAt.Equal(tt.want) || got.IssuedAt.IsZero() != tt.want.IsZero() {
				t.Errorf("Verify(%s) = %+v, %v; want IssuedAt %v", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestLeewayBoundary(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, []byte(laravelSecret), with(laravel(), "exp", testNow.Add(-10*time.Second).Unix()))
	for _, tt := range []struct {
		leeway time.Duration
		want   error
	}{
		{0, ErrExpired},
		{9 * time.Second, ErrExpired},
		{11 * time.Second, nil},
	} {
		_, err := newVerifier(t, Config{Leeway: tt.leeway}).Verify(tok)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("Verify(expired 10s ago) with leeway %v error = %v, want %v", tt.leeway, err, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	_, rpem := rsaKey(t)
	_, epem := ecKey(t, elliptic.P256())
	_, epem384 := ecKey(t, elliptic.P384())
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no algorithm", Config{Secret: []byte("s")}},
		{"unknown algorithm", Config{Algo: "HS1024", Secret: []byte("s")}},
		{"none", Config{Algo: "none", Secret: []byte("s")}},
		{"EdDSA", Config{Algo: "EdDSA", PublicKeyPEM: epem}},
		{"lower case", Config{Algo: "hs256", Secret: []byte("s")}},
		{"HS256 no secret", Config{Algo: "HS256"}},
		{"HS512 empty secret", Config{Algo: "HS512", Secret: []byte{}}},
		{"RS256 no key", Config{Algo: "RS256"}},
		{"RS256 garbage key", Config{Algo: "RS256", PublicKeyPEM: []byte("not a pem")}},
		{"RS256 EC key", Config{Algo: "RS256", PublicKeyPEM: epem}},
		{"ES256 RSA key", Config{Algo: "ES256", PublicKeyPEM: rpem}},
		{"ES256 P-384 key", Config{Algo: "ES256", PublicKeyPEM: epem384}},
		{"ES384 P-256 key", Config{Algo: "ES384", PublicKeyPEM: epem}},
		{"negative leeway", Config{Algo: "HS256", Secret: []byte("s"), Leeway: -time.Second}},
		{"negative max bytes", Config{Algo: "HS256", Secret: []byte("s"), MaxTokenBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := New(tt.cfg); err == nil {
				t.Errorf("New(%s) = %v, nil; want an error", tt.name, v)
			}
		})
	}
}

func TestSecretIsRawBytes(t *testing.T) {
	// A base64-looking secret is used as is, as jwt-auth does.
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), laravel())
	if _, err := newVerifier(t, Config{Secret: []byte(secret)}).Verify(tok); err != nil {
		t.Errorf("Verify(token signed with the raw secret) error = %v, want nil", err)
	}
	decoded, _ := base64.StdEncoding.DecodeString(secret)
	if _, err := newVerifier(t, Config{Secret: decoded}).Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(token, with the base64-decoded secret) error = %v, want ErrInvalid", err)
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	v := newVerifier(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(vectorLogin); err != nil {
			b.Fatal(err)
		}
	}
}
