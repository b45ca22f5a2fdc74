package token

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The HS256 test vector of laravel-tokens.md.
const (
	vectorSecret = "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"
	vectorToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IlhrM2ZQOXFMbTJadDdCdzEiLCJzdWIiOiIxMjMiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.z4PrgrUdpE49OgMEI2Qgjoxy_FYcqUG4Eh_Z3vJEjy0"
)

func TestPrvIsSHA1OfUserModel(t *testing.T) {
	sum := sha1.Sum([]byte(UserModel))
	if got := hex.EncodeToString(sum[:]); got != Prv {
		t.Errorf("sha1(%q) = %s, want Prv %s", UserModel, got, Prv)
	}
}

func TestMintReproducesLaravelVector(t *testing.T) {
	m, err := NewMinter(vectorSecret, "HS256")
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	iat := time.Unix(1767225600, 0)
	got, err := m.Mint(Claims{
		UserID: 123,
		TTL:    time.Unix(4102444800, 0).Sub(iat),
		Issuer: "https://api.example.com/api/auth/login",
		Now:    iat,
		ID:     "Xk3fP9qLm2Zt7Bw1",
	})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if got != vectorToken {
		t.Errorf("Mint(vector 1 claims) =\n%s\nwant\n%s", got, vectorToken)
	}
}

func TestMintParsesWithJWT(t *testing.T) {
	for _, algo := range []string{"HS256", "HS384", "HS512"} {
		t.Run(algo, func(t *testing.T) {
			secret := "a-secret-of-some-length"
			m, err := NewMinter(secret, algo)
			if err != nil {
				t.Fatalf("NewMinter(%s): %v", algo, err)
			}
			before := time.Now().Unix()
			tok, err := m.Mint(Claims{UserID: 42, Nickname: "사용자 🚀 <&>"})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			claims := jwt.MapClaims{}
			parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{algo}), jwt.WithExpirationRequired()).
				ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
			if err != nil {
				t.Fatalf("Parse(minted token): %v", err)
			}
			if parsed.Header["alg"] != algo || parsed.Header["typ"] != "JWT" {
				t.Errorf("header = %v, want alg %s typ JWT", parsed.Header, algo)
			}
			if sub, ok := claims["sub"].(string); !ok || sub != "42" {
				t.Errorf("sub = %#v, want the string \"42\"", claims["sub"])
			}
			if claims["iss"] != DefaultIssuer {
				t.Errorf("iss = %v, want %s", claims["iss"], DefaultIssuer)
			}
			if claims["prv"] != Prv {
				t.Errorf("prv = %v, want %s", claims["prv"], Prv)
			}
			if claims["nickname"] != "사용자 🚀 <&>" {
				t.Errorf("nickname = %v, want the minted one", claims["nickname"])
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			nbf, _ := claims["nbf"].(float64)
			if int64(iat) < before || int64(exp) != int64(iat)+3600 || nbf != iat {
				t.Errorf("iat, nbf, exp = %v, %v, %v; want iat >= %d, nbf = iat, exp = iat+3600", iat, nbf, exp, before)
			}
			jti, _ := claims["jti"].(string)
			if len(jti) != 16 || strings.Trim(jti, jtiAlphabet) != "" {
				t.Errorf("jti = %q, want 16 alphanumeric characters", jti)
			}
		})
	}
}

func TestMintHeaderAndEscapingAsPHP(t *testing.T) {
	m, err := NewMinter("s", "HS256")
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	tok, err := m.Mint(Claims{UserID: 1, Nickname: "é🚀&", Issuer: "https://x/y", ID: "j"})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(header) != `{"typ":"JWT","alg":"HS256"}` {
		t.Errorf("header = %s, want {\"typ\":\"JWT\",\"alg\":\"HS256\"}", header)
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(body), `"iss":"https://x/y"`) || !strings.Contains(string(body), `"nickname":"\u00e9\ud83d\ude80&"}`) {
		t.Errorf("payload = %s, want unescaped slashes and \\u escapes like PHP", body)
	}
	if !json.Valid(body) {
		t.Errorf("payload %s is not valid JSON", body)
	}
}

func TestNewMinterRefuses(t *testing.T) {
	tests := []struct {
		secret, algo string
		want         error
	}{
		{"", "HS256", ErrNoSecret},
		{"s", "RS256", ErrAlgorithm},
		{"s", "none", ErrAlgorithm},
		{"s", "", ErrAlgorithm},
	}
	for _, tt := range tests {
		if _, err := NewMinter(tt.secret, tt.algo); !errors.Is(err, tt.want) {
			t.Errorf("NewMinter(secret %q, %q) error = %v, want %v", tt.secret, tt.algo, err, tt.want)
		}
	}
}

func TestMintRefusesBadClaims(t *testing.T) {
	m, err := NewMinter("s", "HS256")
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	for _, c := range []Claims{{UserID: 0}, {UserID: -1}, {UserID: 1, TTL: -time.Second}} {
		if _, err := m.Mint(c); err == nil {
			t.Errorf("Mint(%+v) = nil error, want a refusal", c)
		}
	}
}
