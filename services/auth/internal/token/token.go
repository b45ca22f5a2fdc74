// Package token verifies the JWTs that a Laravel backend issues with
// tymon/jwt-auth or php-open-source-saver/jwt-auth: one configured algorithm,
// one configured key, integer or fractional time claims, and a user id subject
// that may be a JSON string or a JSON number.
package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultMaxTokenBytes bounds a token's length when Config.MaxTokenBytes is 0.
const DefaultMaxTokenBytes = 8192

// Sentinel errors returned by Verify. Every refusal wraps exactly one of them.
var (
	// ErrInvalid refuses a token that is malformed, badly signed, of another
	// algorithm, not yet valid, from an unknown issuer, too long, or whose
	// subject is not a user id.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired refuses a correctly signed token whose exp has passed,
	// beyond the leeway.
	ErrExpired = errors.New("token expired")
)

// Config selects the algorithm and key a Verifier accepts.
type Config struct {
	// Algo is the one accepted JWT algorithm: HS256, HS384, HS512, RS256,
	// RS384, RS512, ES256, ES384 or ES512.
	Algo string
	// Secret is the HMAC key for HS algorithms, used as raw bytes.
	Secret []byte
	// PublicKeyPEM is the PEM public key (or certificate) for RS and ES
	// algorithms.
	PublicKeyPEM []byte
	// Issuers, when not empty, lists the accepted iss values.
	Issuers []string
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration
	// MaxTokenBytes refuses longer tokens before parsing them; 0 means
	// DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims is the identity an accepted token carries.
type Claims struct {
	// UserID is the sub claim, a positive integer.
	UserID int64
	// Nickname is the nickname claim, else the name claim, else empty.
	Nickname string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
	// ID is the jti claim, empty when absent.
	ID string
	// IssuedAt is the iat claim, whole seconds; zero when absent. A
	// refreshed token keeps its login's iat.
	IssuedAt time.Time
}

// Verifier checks tokens against one algorithm and one key. It is safe for
// concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	key      any
	issuers  []string
	maxBytes int
}

// New returns a Verifier for cfg, or an error when the algorithm is unknown
// or its key is missing or of the wrong type.
func New(cfg Config) (*Verifier, error) {
	key, err := verificationKey(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("negative leeway %v", cfg.Leeway)
	}
	maxBytes := cfg.MaxTokenBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxTokenBytes
	case maxBytes < 0:
		return nil, fmt.Errorf("negative max token bytes %d", maxBytes)
	}
	opts := []jwt.ParserOption{
		// Exactly one method: this refuses alg none and the HS/RS confusion
		// where an RSA public key's PEM is used as an HMAC secret.
		jwt.WithValidMethods([]string{cfg.Algo}),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		// Not WithJSONNumber: it makes jwt read the claims with a
		// json.Decoder, which ignores whatever follows the object, and
		// laravelClaims has no interface values for it to change.
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	return &Verifier{
		parser:   jwt.NewParser(opts...),
		key:      key,
		issuers:  slices.Clone(cfg.Issuers),
		maxBytes: maxBytes,
	}, nil
}

func verificationKey(cfg Config) (any, error) {
	switch cfg.Algo {
	case "HS256", "HS384", "HS512":
		if len(cfg.Secret) == 0 {
			return nil, fmt.Errorf("algorithm %s needs a secret", cfg.Algo)
		}
		return slices.Clone(cfg.Secret), nil
	case "RS256", "RS384", "RS512":
		if len(cfg.PublicKeyPEM) == 0 {
			return nil, fmt.Errorf("algorithm %s needs a PEM public key", cfg.Algo)
		}
		key, err := jwt.ParseRSAPublicKeyFromPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("algorithm %s: RSA public key: %w", cfg.Algo, err)
		}
		return key, nil
	case "ES256", "ES384", "ES512":
		if len(cfg.PublicKeyPEM) == 0 {
			return nil, fmt.Errorf("algorithm %s needs a PEM public key", cfg.Algo)
		}
		key, err := jwt.ParseECPublicKeyFromPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("algorithm %s: EC public key: %w", cfg.Algo, err)
		}
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[cfg.Algo]
		if key.Curve != want {
			return nil, fmt.Errorf("algorithm %s needs a %s key, got %s", cfg.Algo, want.Params().Name, curveName(key))
		}
		return key, nil
	case "":
		return nil, errors.New("no algorithm")
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", cfg.Algo)
	}
}

func curveName(key *ecdsa.PublicKey) string {
	if key.Curve == nil || key.Curve.Params() == nil {
		return "unknown curve"
	}
	return key.Curve.Params().Name
}

// Verify checks tok's length, algorithm, signature, exp (required), nbf and
// issuer, and returns the identity it carries. Refusals wrap ErrExpired or
// ErrInvalid.
func (v *Verifier) Verify(tok string) (Claims, error) {
	if len(tok) > v.maxBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, v.maxBytes)
	}
	var c laravelClaims
	// The key is fixed by the configuration: nothing in the header selects it.
	_, err := v.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	// The parser validates claims only after the signature verified, so an
	// expired token is a genuine one; it is still refused as invalid when
	// its issuer or subject would be.
	expired := errors.Is(err, jwt.ErrTokenExpired)
	if err != nil && !expired {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(v.issuers) > 0 && !slices.Contains(v.issuers, c.Issuer) {
		return Claims{}, fmt.Errorf("%w: issuer not accepted", ErrInvalid)
	}
	if c.Subject <= 0 {
		return Claims{}, fmt.Errorf("%w: no user id subject", ErrInvalid)
	}
	if expired {
		return Claims{}, fmt.Errorf("%w: %w", ErrExpired, err)
	}
	nick := jsonString(c.Nickname)
	if nick == "" {
		nick = jsonString(c.Name)
	}
	var iat time.Time
	if c.IssuedAt != nil {
		iat = c.IssuedAt.Time
	}
	return Claims{
		UserID:    int64(c.Subject),
		Nickname:  nick,
		ExpiresAt: c.ExpiresAt.Time,
		ID:        c.ID,
		IssuedAt:  iat,
	}, nil
}

// jsonString returns raw's value when it is a JSON string, else "": a
// nickname of another type is ignored rather than refusing the token.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// laravelClaims are the claims jwt-auth issues. Its methods implement
// jwt.Claims for the parser's validator.
type laravelClaims struct {
	Issuer    string          `json:"iss"`
	Subject   userID          `json:"sub"`
	ExpiresAt *numericDate    `json:"exp"`
	NotBefore *numericDate    `json:"nbf"`
	IssuedAt  *numericDate    `json:"iat"`
	ID        string          `json:"jti"`
	Nickname  json.RawMessage `json:"nickname"`
	Name      json.RawMessage `json:"name"`
}

func (c *laravelClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *laravelClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *laravelClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *laravelClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *laravelClaims) GetSubject() (string, error) {
	return strconv.FormatInt(int64(c.Subject), 10), nil
}
func (c *laravelClaims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

// maxClaimSeconds bounds a time claim: 2^53 seconds (285 million years),
// the whole seconds a float64 holds exactly.
const maxClaimSeconds = 1 << 53

// numericDate is a time claim (exp, nbf, iat) as jwt reads it, integer or
// fractional seconds, refused beyond maxClaimSeconds either side: jwt
// converts the seconds to an int64 and then a time.Time without checks,
// so that an nbf of 1e19 wrapped around to the distant past and a token
// not yet valid passed.
type numericDate struct{ jwt.NumericDate }

// UnmarshalJSON implements json.Unmarshaler.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("time claim: %w", err)
	}
	if f, err := n.Float64(); err == nil && math.Abs(f) > maxClaimSeconds {
		return fmt.Errorf("time claim %s out of range", n)
	}
	return d.NumericDate.UnmarshalJSON(b)
}

// date returns d as jwt's, nil when absent.
func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// userID is a sub claim holding a positive decimal integer, as a JSON string
// ("123", current jwt-auth) or a JSON number (124, tymon 1.x). Anything else
// (signs, leading zeros, fractions, exponents, zero, overflow) fails to decode.
type userID int64

// UnmarshalJSON accepts "123" and 123, and nothing else. A string is read
// by its value: "\u0031\u0032\u0033" is "123" too.
func (u *userID) UnmarshalJSON(b []byte) error {
	digits := b
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		digits = b[1 : len(b)-1]
		if bytes.IndexByte(digits, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return errors.New("sub is not a string")
			}
			digits = []byte(s)
		}
	}
	if len(digits) == 0 || digits[0] == '0' || bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return errors.New("sub is not a positive integer")
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return errors.New("sub is out of range")
	}
	*u = userID(n)
	return nil
}
