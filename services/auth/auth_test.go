package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// The test vectors of shared/spec/laravel-tokens.md.
const (
	laravelSecret = "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"
	vectorLogin   = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IlhrM2ZQOXFMbTJadDdCdzEiLCJzdWIiOiIxMjMiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.z4PrgrUdpE49OgMEI2Qgjoxy_FYcqUG4Eh_Z3vJEjy0"
	vectorRefresh = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9yZWZyZXNoIiwiaWF0IjoxNzY3MjI1NjAwLjEyMzQ1NiwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAuMTIzNDU2LCJqdGkiOiJRYThSdDVZdTFJbzNQbDZLIiwic3ViIjoxMjQsInBydiI6IjIzYmQ1Yzg5NDlmNjAwYWRiMzllNzAxYzQwMDg3MmRiN2E1OTc2ZjciLCJuaWNrbmFtZSI6Ilx1YzBhY1x1YzZhOVx1Yzc5MDEifQ.rBSSSUjT7hFgR1VyHdJNuYEuIScRcocdHV-SDNJ8D-w"
	vectorExpired = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MjI5MjAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IkV4MVBpMlJlM0RkNFRrNU4iLCJzdWIiOiIxMjUiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.M4tc2I8d-Jlq14EoOWG9zC2VIehfFrEd37qwzZ3Qv6w"
)

// service is a running Run with clients on a real loopback connection.
type service struct {
	auth  authv1.AuthServiceClient
	admin authv1.AuthAdminServiceClient
	conn  *grpc.ClientConn
	// stop cancels Run's ctx and returns what Run returned.
	stop func() error
}

// start runs Run(ctx, cfg) on 127.0.0.1:0 and connects to it. The service
// is stopped at the end of the test unless the test stopped it.
func start(t *testing.T, cfg Config) *service {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = lis
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s) error = %v", lis.Addr(), err)
	}
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Run did not return within 10s of cancelling its ctx")
			}
		}
		return runErr
	}
	t.Cleanup(func() {
		conn.Close()
		if err := stop(); err != nil {
			t.Errorf("Run() after cancel = %v, want nil", err)
		}
	})
	return &service{
		auth:  authv1.NewAuthServiceClient(conn),
		admin: authv1.NewAuthAdminServiceClient(conn),
		conn:  conn,
		stop:  stop,
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hs256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(laravelSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fresh(sub any, jti string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "https://api.example.com/api/auth/login",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"sub": sub, "jti": jti,
	}
}

// reasonOf returns err's status code and the reason of its ErrorInfo in
// domain auth.switchboard.dev ("" when there is none).
func reasonOf(t *testing.T, err error) (codes.Code, string) {
	t.Helper()
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetDomain() != "auth.switchboard.dev" {
				t.Errorf("ErrorInfo domain = %q, want auth.switchboard.dev", info.GetDomain())
			}
			return st.Code(), info.GetReason()
		}
	}
	return st.Code(), ""
}

func TestVerifyTokenOverGRPC(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	ctx := callCtx(t)

	tests := []struct {
		name       string
		tok        string
		wantCode   codes.Code
		wantReason string
		wantUser   int64
		wantNick   string
		wantJTI    string
	}{
		{"vector 1 nickname from default", vectorLogin, codes.OK, "", 123, "user123", "Xk3fP9qLm2Zt7Bw1"},
		{"vector 2 nickname from claim", vectorRefresh, codes.OK, "", 124, "사용자1", "Qa8Rt5Yu1Io3Pl6K"},
		{"vector 3 expired", vectorExpired, codes.Unauthenticated, "ERROR_REASON_TOKEN_EXPIRED", 0, "", ""},
		{"garbage", "not.a.token", codes.Unauthenticated, "ERROR_REASON_INVALID_TOKEN", 0, "", ""},
		{"empty", "", codes.Unauthenticated, "ERROR_REASON_INVALID_TOKEN", 0, "", ""},
		{"wrong secret", mustSign(t, jwt.SigningMethodHS256, []byte("other"), fresh("5", "x")), codes.Unauthenticated, "ERROR_REASON_INVALID_TOKEN", 0, "", ""},
		{"too long", vectorLogin + strings.Repeat("A", DefaultMaxTokenBytes), codes.Unauthenticated, "ERROR_REASON_INVALID_TOKEN", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: tt.tok})
			code, reason := reasonOf(t, err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("VerifyToken(%s) = %v; want code %v reason %q, got %v %q", tt.name, err, tt.wantCode, tt.wantReason, code, reason)
			}
			if err != nil {
				if msg := status.Convert(err).Message(); strings.Contains(msg, "signature") || strings.Contains(msg, ":") {
					t.Errorf("VerifyToken(%s) message = %q, want no internal error text", tt.name, msg)
				}
				return
			}
			if resp.GetUserId() != tt.wantUser || resp.GetNickname() != tt.wantNick || resp.GetTokenId() != tt.wantJTI ||
				!resp.GetExpiresAt().AsTime().Equal(time.Unix(4102444800, 0)) {
				t.Errorf("VerifyToken(%s) = %v; want user %d nickname %q jti %q exp 2100-01-01", tt.name, resp, tt.wantUser, tt.wantNick, tt.wantJTI)
			}
		})
	}

	// The user directory supplies the nickname a token lacks; the token's
	// own claim still wins.
	for _, u := range []*authv1.User{{UserId: 123, Nickname: "alice"}, {UserId: 124, Nickname: "directory-124"}} {
		if _, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: u}); err != nil {
			t.Fatalf("PutUser(%v) error = %v", u, err)
		}
	}
	for tok, want := range map[string]string{vectorLogin: "alice", vectorRefresh: "사용자1"} {
		resp, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: tok})
		if err != nil || resp.GetNickname() != want {
			t.Errorf("VerifyToken(user %d) after PutUser = %v, %v; want nickname %q", resp.GetUserId(), resp, err, want)
		}
	}
	got, err := svc.admin.GetUser(ctx, &authv1.GetUserRequest{UserId: 123})
	if err != nil || got.GetUser().GetNickname() != "alice" {
		t.Errorf("GetUser(123) = %v, %v; want alice", got, err)
	}
	if _, err := svc.admin.GetUser(ctx, &authv1.GetUserRequest{UserId: 999}); status.Code(err) != codes.NotFound {
		t.Errorf("GetUser(999) error = %v, want NotFound", err)
	}

	// The service reports itself healthy while serving.
	hc, err := healthpb.NewHealthClient(svc.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "switchboard.auth.v1.AuthService"})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Health.Check(AuthService) = %v, %v; want SERVING", hc, err)
	}

	if err := svc.stop(); err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
}

func mustSign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRevocationOverGRPC(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := Config{Secret: []byte(laravelSecret), DataDir: dataDir, Leeway: 30 * time.Second}
	svc := start(t, cfg)
	ctx := callCtx(t)

	revoked := hs256(t, fresh("9", "revoke-me"))
	kept := hs256(t, fresh("9", "keep-me"))
	// A token just past its exp, still accepted within the leeway: its
	// revocation, expiring at that exp, must still hold.
	late := hs256(t, jwt.MapClaims{"sub": "9", "jti": "late", "exp": time.Now().Add(-5 * time.Second).Unix()})

	jtis := map[string]string{revoked: "revoke-me", kept: "keep-me", late: "late"}
	verify := func(svc *service, when, tok, wantReason string) {
		t.Helper()
		_, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: tok})
		if _, reason := reasonOf(t, err); reason != wantReason {
			t.Errorf("%s: VerifyToken(jti %s) = %v, want reason %q", when, jtis[tok], err, wantReason)
		}
	}
	verify(svc, "before revocation", revoked, "")
	verify(svc, "before revocation", late, "")

	for _, req := range []*authv1.RevokeTokenRequest{
		{TokenId: "revoke-me", ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))},
		{TokenId: "late", ExpiresAt: timestamppb.New(time.Now().Add(-5 * time.Second))},
	} {
		if _, err := svc.admin.RevokeToken(ctx, req); err != nil {
			t.Fatalf("RevokeToken(%v) error = %v", req, err)
		}
	}
	verify(svc, "after revocation", revoked, "ERROR_REASON_TOKEN_REVOKED")
	verify(svc, "after revocation", late, "ERROR_REASON_TOKEN_REVOKED")
	verify(svc, "after revocation", kept, "")

	// The revocation survives a restart on the same data dir.
	if err := svc.stop(); err != nil {
		t.Fatalf("Run() after cancel = %v, want nil", err)
	}
	svc2 := start(t, cfg)
	verify(svc2, "after restart", revoked, "ERROR_REASON_TOKEN_REVOKED")
	verify(svc2, "after restart", kept, "")
}

func TestAdminInvalidArgument(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret)})
	ctx := callCtx(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"PutUser no user", func() error { _, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{}); return err }},
		{"PutUser zero id", func() error {
			_, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: &authv1.User{Nickname: "x"}})
			return err
		}},
		{"PutUser negative id", func() error {
			_, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: &authv1.User{UserId: -1, Nickname: "x"}})
			return err
		}},
		{"PutUser empty nickname", func() error {
			_, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: &authv1.User{UserId: 1}})
			return err
		}},
		{"PutUser nickname over 256 bytes", func() error {
			_, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: &authv1.User{UserId: 1, Nickname: strings.Repeat("é", 129)}})
			return err
		}},
		{"GetUser zero id", func() error { _, err := svc.admin.GetUser(ctx, &authv1.GetUserRequest{}); return err }},
		{"RevokeToken empty jti", func() error { _, err := svc.admin.RevokeToken(ctx, &authv1.RevokeTokenRequest{}); return err }},
		{"RevokeToken jti over 256 bytes", func() error {
			_, err := svc.admin.RevokeToken(ctx, &authv1.RevokeTokenRequest{TokenId: strings.Repeat("j", 257)})
			return err
		}},
		{"RevokeUser zero id", func() error { _, err := svc.admin.RevokeUser(ctx, &authv1.RevokeUserRequest{}); return err }},
		{"RevokeUser negative id", func() error {
			_, err := svc.admin.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: -3})
			return err
		}},
		{"RevokeToken invalid expires_at", func() error {
			_, err := svc.admin.RevokeToken(ctx, &authv1.RevokeTokenRequest{TokenId: "j", ExpiresAt: &timestamppb.Timestamp{Nanos: -1}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s error = %v, want InvalidArgument", tt.name, err)
			}
		})
	}
	// The limits themselves are accepted.
	if _, err := svc.admin.PutUser(ctx, &authv1.PutUserRequest{User: &authv1.User{UserId: 1, Nickname: strings.Repeat("é", 128)}}); err != nil {
		t.Errorf("PutUser(nickname of 256 bytes) error = %v, want nil", err)
	}
	if _, err := svc.admin.RevokeToken(ctx, &authv1.RevokeTokenRequest{TokenId: strings.Repeat("j", 256)}); err != nil {
		t.Errorf("RevokeToken(jti of 256 bytes, no expiry) error = %v, want nil", err)
	}
}

func TestMaxTokenBytesOverGRPC(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret), MaxTokenBytes: len(vectorLogin)})
	ctx := callCtx(t)
	if _, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: vectorLogin}); err != nil {
		t.Errorf("VerifyToken(token of exactly MaxTokenBytes) error = %v, want nil", err)
	}
	_, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: vectorRefresh}) // longer
	if code, reason := reasonOf(t, err); code != codes.Unauthenticated || reason != "ERROR_REASON_INVALID_TOKEN" {
		t.Errorf("VerifyToken(token over MaxTokenBytes) = %v, want Unauthenticated ERROR_REASON_INVALID_TOKEN", err)
	}
}

func TestIssuersOverGRPC(t *testing.T) {
	svc := start(t, Config{Secret: []byte(laravelSecret), Issuers: []string{"https://api.example.com/api/auth/refresh"}})
	ctx := callCtx(t)
	if _, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: vectorRefresh}); err != nil {
		t.Errorf("VerifyToken(refresh vector, issuer listed) error = %v, want nil", err)
	}
	_, err := svc.auth.VerifyToken(ctx, &authv1.VerifyTokenRequest{Token: vectorLogin})
	if _, reason := reasonOf(t, err); reason != "ERROR_REASON_INVALID_TOKEN" {
		t.Errorf("VerifyToken(login vector, issuer not listed) = %v, want ERROR_REASON_INVALID_TOKEN", err)
	}
}

func writePEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt-public.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPublicKeyAlgorithmsOverGRPC(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPath, ecPath := writePEM(t, &rk.PublicKey), writePEM(t, &ek.PublicKey)
	rsaPEM, err := os.ReadFile(rsaPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		algo       string
		keyPath    string
		tok        string
		wantReason string
	}{
		{"RS256", rsaPath, mustSign(t, jwt.SigningMethodRS256, rk, fresh("11", "r")), ""},
		{"ES256", ecPath, mustSign(t, jwt.SigningMethodES256, ek, fresh(12, "e")), ""},
		// The key confusion attack: HS256 keyed with the server's public PEM.
		{"RS256", rsaPath, mustSign(t, jwt.SigningMethodHS256, rsaPEM, fresh("11", "r")), "ERROR_REASON_INVALID_TOKEN"},
		{"ES256", ecPath, mustSign(t, jwt.SigningMethodRS256, rk, fresh("11", "r")), "ERROR_REASON_INVALID_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.algo+"/"+tt.wantReason, func(t *testing.T) {
			svc := start(t, Config{Algo: tt.algo, PublicKeyPath: tt.keyPath})
			resp, err := svc.auth.VerifyToken(callCtx(t), &authv1.VerifyTokenRequest{Token: tt.tok})
			if _, reason := reasonOf(t, err); reason != tt.wantReason || (err == nil) != (tt.wantReason == "") {
				t.Fatalf("VerifyToken(%s token) = %v, %v; want reason %q", tt.algo, resp, err, tt.wantReason)
			}
		})
	}
}

func TestRunConfigErrors(t *testing.T) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPath := writePEM(t, &ek.PublicKey)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	fileAsDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(fileAsDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"HS256 without secret", Config{}},
		{"HS384 without secret", Config{Algo: "HS384"}},
		{"RS256 without key path", Config{Algo: "RS256"}},
		{"RS256 missing PEM file", Config{Algo: "RS256", PublicKeyPath: filepath.Join(t.TempDir(), "missing.pem")}},
		{"RS256 not a PEM", Config{Algo: "RS256", PublicKeyPath: notPEM}},
		{"RS256 with an EC key", Config{Algo: "RS256", PublicKeyPath: ecPath}},
		{"ES512 with a P-256 key", Config{Algo: "ES512", PublicKeyPath: ecPath}},
		{"unknown algo", Config{Algo: "HS1024", Secret: []byte("s")}},
		{"alg none", Config{Algo: "none", Secret: []byte("s")}},
		{"negative leeway", Config{Secret: []byte("s"), Leeway: -time.Second}},
		{"negative user revocation ttl", Config{Secret: []byte("s"), UserRevocationTTL: -time.Hour}},
		{"negative watch buffer", Config{Secret: []byte("s"), WatchBuffer: -1}},
		{"no data dir", Config{Secret: []byte("s"), DataDir: "-"}},
		{"data dir is a file", Config{Secret: []byte("s"), DataDir: fileAsDir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A cancelled ctx: a config that wrongly passes makes Run serve
			// and return nil at once instead of blocking.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			cfg := tt.cfg
			switch cfg.DataDir {
			case "":
				cfg.DataDir = t.TempDir()
			case "-":
				cfg.DataDir = ""
			}
			cfg.Addr = "127.0.0.1:0"
			if err := Run(ctx, cfg); err == nil {
				t.Errorf("Run(%s) = nil, want a config error", tt.name)
			}
		})
	}
}

func TestRunDataDirCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, Config{Addr: "127.0.0.1:0", Secret: []byte("s"), DataDir: dir}); err != nil {
		t.Fatalf("Run(cancelled ctx) = %v, want nil", err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir %s: %v, %v; want mode 0700", dir, fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "auth.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.db: %v, %v; want mode 0600", fi, err)
	}
}
