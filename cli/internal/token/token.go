// Package token mints development JWTs exactly as the Laravel backend
// (php-open-source-saver/jwt-auth on lcobucci/jwt) issues them, so that the
// edge can be exercised without a Laravel installation.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultIssuer is the iss claim of a token minted by the backend's login route.
const DefaultIssuer = "http://localhost/api/auth/login"

// DefaultTTL is jwt-auth's default token lifetime (JWT_TTL = 60 minutes).
const DefaultTTL = time.Hour

// UserModel is the Eloquent model class whose sha1 is the prv claim.
const UserModel = `App\Models\User`

// Prv is the hex sha1 of UserModel, the prv claim jwt-auth adds when subject
// locking is on (its default).
const Prv = "23bd5c8949f600adb39e701c400872db7a5976f7"

// jtiLength is the length of jwt-auth's jti (Str::random(16)).
const jtiLength = 16

const jtiAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// ErrNoSecret is returned when no HMAC secret is configured.
var ErrNoSecret = errors.New("JWT_SECRET is empty: set it to the Laravel backend's JWT_SECRET")

// ErrAlgorithm is returned for an algorithm that cannot be minted with a shared secret.
var ErrAlgorithm = errors.New("only HS256, HS384 and HS512 can be minted with JWT_SECRET")

// Minter signs tokens with one HMAC secret and algorithm.
type Minter struct {
	secret []byte
	method *jwt.SigningMethodHMAC
	header string // base64url of the JOSE header, precomputed
}

// NewMinter returns a Minter for secret (used as raw bytes, as jwt-auth does)
// and algo (HS256, HS384 or HS512).
func NewMinter(secret, algo string) (*Minter, error) {
	if secret == "" {
		return nil, ErrNoSecret
	}
	var method *jwt.SigningMethodHMAC
	switch algo {
	case "HS256":
		method = jwt.SigningMethodHS256
	case "HS384":
		method = jwt.SigningMethodHS384
	case "HS512":
		method = jwt.SigningMethodHS512
	default:
		return nil, fmt.Errorf("JWT_ALGO %q: %w", algo, ErrAlgorithm)
	}
	// lcobucci/jwt writes typ before alg.
	header := `{"typ":"JWT","alg":"` + algo + `"}`
	return &Minter{
		secret: []byte(secret),
		method: method,
		header: base64.RawURLEncoding.EncodeToString([]byte(header)),
	}, nil
}

// Claims describe one token to mint. Zero fields take the backend's defaults.
type Claims struct {
	// UserID is the sub claim, written as a string like the current packages do.
	UserID int64
	// Nickname, when set, is added as a custom nickname claim.
	Nickname string
	// TTL is the lifetime; 0 means DefaultTTL.
	TTL time.Duration
	// Issuer is the iss claim; empty means DefaultIssuer.
	Issuer string
	// Now is the issue time; zero means the current time.
	Now time.Time
	// ID is the jti claim; empty means 16 random alphanumeric characters.
	ID string
}

// payload lists the claims in the order jwt-auth writes them.
type payload struct {
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Exp      int64  `json:"exp"`
	Nbf      int64  `json:"nbf"`
	Jti      string `json:"jti"`
	Sub      string `json:"sub"`
	Prv      string `json:"prv"`
	Nickname string `json:"nickname,omitempty"`
}

// Mint returns the compact JWT for c.
func (m *Minter) Mint(c Claims) (string, error) {
	if c.UserID <= 0 {
		return "", fmt.Errorf("user id %d: must be positive", c.UserID)
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 {
		return "", fmt.Errorf("ttl %v: must be positive", ttl)
	}
	iss := c.Issuer
	if iss == "" {
		iss = DefaultIssuer
	}
	jti := c.ID
	if jti == "" {
		var err error
		if jti, err = randomID(); err != nil {
			return "", err
		}
	}
	iat := now.Unix()
	p := payload{
		Iss:      iss,
		Iat:      iat,
		Exp:      iat + int64(ttl/time.Second),
		Nbf:      iat,
		Jti:      jti,
		Sub:      strconv.FormatInt(c.UserID, 10),
		Prv:      Prv,
		Nickname: c.Nickname,
	}
	body, err := marshalPHP(p)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	signing := m.header + "." + base64.RawURLEncoding.EncodeToString(body)
	sig, err := m.method.Sign(signing, m.secret)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// marshalPHP encodes v the way PHP's json_encode with JSON_UNESCAPED_SLASHES
// does: no HTML escaping, every non-ASCII character as a \u escape.
func marshalPHP(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	s := strings.TrimSuffix(sb.String(), "\n")
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xFFFF:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out, nil
}

// randomID returns jtiLength random alphanumeric characters, like Laravel's
// Str::random.
func randomID() (string, error) {
	out := make([]byte, 0, jtiLength)
	var buf [32]byte
	for len(out) < jtiLength {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("random jti: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting above it keeps the draw uniform.
			if b < 248 && len(out) < jtiLength {
				out = append(out, jtiAlphabet[b%62])
			}
		}
	}
	return string(out), nil
}
