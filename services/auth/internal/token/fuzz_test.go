package token

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

// testKey reads a fixed private key of testdata, and returns it with the
// PEM of its public key.
func testKey(tb testing.TB, name string) (any, []byte) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("testdata/%s: no PEM block", name)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatalf("testdata/%s: %v", name, err)
	}
	return key, publicPEM(tb, key.(crypto.Signer).Public())
}

// signBytes makes a token of any payload bytes, signed with method.
func signBytes(tb testing.TB, method jwt.SigningMethod, key any, payload []byte) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"` + method.Alg() + `"}`))
	signing := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := method.Sign(signing, key)
	if err != nil {
		tb.Fatalf("%s.Sign: %v", method.Alg(), err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// checkRefusal fails unless err wraps exactly one of the sentinels and
// the claims are zero.
func checkRefusal(t *testing.T, what string, got Claims, err error) {
	t.Helper()
	if errors.Is(err, ErrInvalid) == errors.Is(err, ErrExpired) || got != (Claims{}) {
		t.Fatalf("%s = %+v, %v; want zero claims and exactly one of ErrInvalid, ErrExpired", what, got, err)
	}
}

// FuzzVerifyPublicKey is FuzzVerify for the RS and ES algorithms: any
// string given to an RS256 and an ES256 verifier is refused with exactly
// one sentinel, or accepted only when jwt itself verifies it with the key
// and that algorithm, with a positive user id and an expiry not passed.
func FuzzVerifyPublicKey(f *testing.F) {
	rsaPriv, rsaPEM := testKey(f, "rsa_test_key.pem")
	ecPriv, ecPEM := testKey(f, "ec256_test_key.pem")
	claims := with(laravel(), "nickname", "bob")
	for _, tok := range []string{
		sign(f, jwt.SigningMethodRS256, rsaPriv, claims),
		sign(f, jwt.SigningMethodES256, ecPriv, claims),
		sign(f, jwt.SigningMethodRS256, rsaPriv, with(laravel(), "exp", testNow.Add(-time.Hour).Unix())),
		sign(f, jwt.SigningMethodES256, ecPriv, with(laravel(), "sub", 42, "iat", 1780272000.654321)),
		sign(f, jwt.SigningMethodRS384, rsaPriv, claims),
		sign(f, jwt.SigningMethodPS256, rsaPriv, claims),
		sign(f, jwt.SigningMethodHS256, rsaPEM, claims), // the HS/RS confusion
		sign(f, jwt.SigningMethodHS256, ecPEM, claims),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
		vectorLogin,
	} {
		f.Add(tok)
		for _, at := range []int{0, 1, 36, 37, len(tok) / 2, len(tok) - 86, len(tok) - 1} {
			f.Add(tok[:at])
			f.Add(tok[at:])
		}
	}
	verifiers := []struct {
		algo string
		key  any
		v    *Verifier
	}{
		{"RS256", rsaPriv.(crypto.Signer).Public(), newVerifier(f, Config{Algo: "RS256", PublicKeyPEM: rsaPEM})},
		{"ES256", ecPriv.(crypto.Signer).Public(), newVerifier(f, Config{Algo: "ES256", PublicKeyPEM: ecPEM})},
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, ver := range verifiers {
			got, err := ver.v.Verify(tok)
			if err != nil {
				checkRefusal(t, fmt.Sprintf("%s Verify(%q)", ver.algo, tok), got, err)
				continue
			}
			check := jwt.NewParser(jwt.WithValidMethods([]string{ver.algo}), jwt.WithoutClaimsValidation())
			if _, jerr := check.Parse(tok, func(*jwt.Token) (any, error) { return ver.key, nil }); jerr != nil {
				t.Fatalf("%s Verify(%q) accepted %+v, but jwt.Parse with the key says %v", ver.algo, tok, got, jerr)
			}
			if got.UserID <= 0 || !testNow.Before(got.ExpiresAt) {
				t.Fatalf("%s Verify(%q) accepted %+v, want a positive user id and an expiry to come", ver.algo, tok, got)
			}
		}
	})
}

// knownClaims are the claims Verify reads.
var knownClaims = []string{"iss", "sub", "exp", "nbf", "iat", "jti", "nickname", "name"}

// plainClaims reads a payload that is one JSON object whose keys are
// unique and name a known claim only in its exact spelling (encoding/json
// also matches keys that differ in case, and the last of a repeated key
// counts); ok is false for any other payload.
func plainClaims(payload []byte) (claims map[string]json.RawMessage, ok bool) {
	if !json.Valid(payload) || json.Unmarshal(payload, &claims) != nil || claims == nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.Token() // {
	seen := map[string]bool{}
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		var skip json.RawMessage
		dec.Decode(&skip)
		for _, known := range knownClaims {
			if strings.EqualFold(key, known) && key != known {
				return nil, false
			}
		}
		if seen[key] {
			return nil, false
		}
		seen[key] = true
	}
	return claims, true
}

// userIDPattern is a sub claim's digits: a positive decimal integer
// without sign or leading zeros.
var userIDPattern = regexp.MustCompile(`^[1-9][0-9]*$`)

// referenceSub reads a sub claim by its JSON value: a string or a number
// of a positive int64.
func referenceSub(raw json.RawMessage) (int64, bool) {
	var s string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	default:
		s = string(raw)
	}
	if !userIDPattern.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// claimTime is a time claim as the reference reads it.
type claimTime struct {
	t       time.Time // whole seconds, when a number in range
	present bool      // neither absent nor null
	number  bool      // a JSON number (jwt also reads a numeric string)
	inRange bool      // a number of at most maxClaimSeconds either side
}

func referenceTime(raw json.RawMessage) claimTime {
	if raw == nil || string(raw) == "null" {
		return claimTime{}
	}
	c := claimTime{present: true, number: raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'}
	f, err := strconv.ParseFloat(string(raw), 64)
	if c.number && err == nil && math.Abs(f) <= maxClaimSeconds {
		c.t, c.inRange = time.Unix(int64(math.Floor(f)), 0), true
	}
	return c
}

// FuzzVerifyClaims signs any payload with HS256, RS256 or ES256 and checks
// Verify's verdict on a genuine token: refusals wrap exactly one sentinel;
// an accepted token is one JSON object that satisfies the documented rules
// (user id, expiry, nbf, issuer); and a payload of well-typed claims is judged exactly by them:
// accepted, expired, or invalid for its nbf or issuer.
func FuzzVerifyClaims(f *testing.F) {
	rsaPriv, rsaPEM := testKey(f, "rsa_test_key.pem")
	ecPriv, ecPEM := testKey(f, "ec256_test_key.pem")
	algs := []struct {
		method jwt.SigningMethod
		key    any
		cfg    Config
	}{
		{jwt.SigningMethodHS256, []byte(laravelSecret), Config{Algo: "HS256"}},
		{jwt.SigningMethodRS256, rsaPriv, Config{Algo: "RS256", PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodES256, ecPriv, Config{Algo: "ES256", PublicKeyPEM: ecPEM}},
	}
	// Verifiers by the low four bits of cfg: the algorithm (cfg%4, 3 is
	// HS256 again), issuers listed (cfg&4), a leeway (cfg&8).
	var verifiers [16]*Verifier
	for i := range verifiers {
		c := algs[i%4%3].cfg
		if i&4 != 0 {
			c.Issuers = []string{issuerLogin}
		}
		if i&8 != 0 {
			c.Leeway = 30 * time.Second
		}
		verifiers[i] = newVerifier(f, c)
	}
	for _, p := range []string{
		`{"iss":"https://api.example.com/api/auth/login","iat":1767225600,"exp":4102444800,"nbf":1767225600,"jti":"Xk3fP9qLm2Zt7Bw1","sub":"123","prv":"23bd5c8949f600adb39e701c400872db7a5976f7"}`,
		`{"iss":"https://api.example.com/api/auth/refresh","iat":1767225600.123456,"exp":4102444800,"nbf":1767225600.123456,"jti":"Qa8Rt5Yu1Io3Pl6K","sub":124,"nickname":"\uc0ac\uc6a9\uc7901"}`,
		`{"iss":"https://api.example.com/api/auth/login","iat":1767225600,"exp":1767229200,"nbf":1767225600,"jti":"Ex1Pi2Re3Dd4Tk5N","sub":"125"}`,
		`{"sub":"7","exp":1780271990,"name":"Ann","nickname":""}`,
		`{"sub":"7","exp":1780272000.5,"nbf":1780272020}`,
		`{"sub":"9223372036854775807","exp":4102444800}`,
		`{"sub":"9223372036854775808","exp":4102444800}`,
		`{"sub":"007","exp":4102444800}`, `{"sub":"+5","exp":4102444800}`, `{"sub":1e3,"exp":4102444800}`,
		`{"sub":"\u0031\u0032","exp":4102444800}`,
		`{"sub":"7"}`, `{"sub":"7","exp":"4102444800"}`, `{"sub":"7","exp":4102444800,"iat":"1767225600"}`,
		`{"sub":"7","exp":4102444800,"nbf":1e19}`, `{"sub":"7","exp":4102444800,"nbf":9223372000000000000}`, `{"sub":"7","exp":1e400}`,
		`{"sub":"7","exp":9007199254740992,"nbf":-9007199254740992,"iat":9007199254740993}`, `{"sub":"7","exp":null}`, `{"sub":"7","SUB":"8","exp":4102444800}`,
		`{"sub":"7","exp":4102444800,"iss":5}`, `{"sub":"7","exp":4102444800,"jti":5}`, `{"sub":"7","exp":4102444800} trailing`,
		`[]`, `null`, ``, `{`,
	} {
		for cfg := range 16 {
			f.Add([]byte(p), uint8(cfg))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, cfg uint8) {
		alg := algs[cfg%4%3]
		v := verifiers[cfg%16]
		var issuers []string
		if cfg&4 != 0 {
			issuers = []string{issuerLogin}
		}
		var leeway time.Duration
		if cfg&8 != 0 {
			leeway = 30 * time.Second
		}
		tok := signBytes(t, alg.method, alg.key, payload)
		got, err := v.Verify(tok)
		what := fmt.Sprintf("%s Verify(%q) (issuers %q, leeway %v)", alg.method.Alg(), payload, issuers, leeway)
		if err != nil {
			checkRefusal(t, what, got, err)
		} else if !json.Valid(payload) || got.UserID <= 0 || !testNow.Before(got.ExpiresAt.Add(leeway)) || got.ExpiresAt != got.ExpiresAt.Truncate(time.Second) {
			t.Fatalf("%s accepted %+v: want one JSON object, a positive user id and an expiry (whole seconds) not passed", what, got)
		}

		claims, ok := plainClaims(payload)
		if !ok {
			return
		}
		sub, subOK := referenceSub(claims["sub"])
		exp, nbf, iat := referenceTime(claims["exp"]), referenceTime(claims["nbf"]), referenceTime(claims["iat"])
		outOfRange := exp.number && !exp.inRange || nbf.number && !nbf.inRange || iat.number && !iat.inRange
		var iss, jti string
		issOK := claims["iss"] == nil || json.Unmarshal(claims["iss"], &iss) == nil
		jtiOK := claims["jti"] == nil || json.Unmarshal(claims["jti"], &jti) == nil
		issuerAccepted := len(issuers) == 0 || slices.Contains(issuers, iss)
		var nick, name string
		json.Unmarshal(claims["nickname"], &nick)
		json.Unmarshal(claims["name"], &name)
		if nick == "" {
			nick = name
		}
		if err == nil {
			want := Claims{UserID: sub, Nickname: nick, ExpiresAt: exp.t, ID: jti, IssuedAt: iat.t}
			if !exp.inRange { // jwt also reads a numeric string
				want.ExpiresAt = got.ExpiresAt
			}
			if !iat.inRange {
				want.IssuedAt = got.IssuedAt
			}
			if !subOK || !issuerAccepted || outOfRange || got != want || nbf.inRange && testNow.Before(nbf.t.Add(-leeway)) {
				t.Fatalf("%s accepted %+v; the claims read %+v (sub ok %v, issuer accepted %v, time out of range %v)", what, got, want, subOK, issuerAccepted, outOfRange)
			}
		}
		if !subOK || !exp.number || nbf.present && !nbf.number || iat.present && !iat.number || !issOK || !jtiOK {
			return // not well-typed: FuzzVerify's and the tables' cases
		}
		var want error
		switch {
		case outOfRange, !issuerAccepted:
			want = ErrInvalid
		case !testNow.Before(exp.t.Add(leeway)): // exp is the first instant refused
			want = ErrExpired
		case nbf.present && testNow.Before(nbf.t.Add(-leeway)):
			want = ErrInvalid
		}
		if !errors.Is(err, want) || want == nil && err != nil {
			t.Fatalf("%s error = %v, want %v", what, err, want)
		}
	})
}
