// Package legacytest is a fake legacy auth service for tests of the
// switch-over: it issues tokens in each dialect's legacy shape (mmm HS256
// pairs without a session id; opaque tokens for the others), answers its
// own auth endpoints and protected routes with the codes a legacy service
// gives, and introspects its opaque tokens. It records every request that
// reaches it, so a test can assert what a shadow route forwarded.
package legacytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Secret is the legacy mmm service's HS256 key; Issuer its iss.
const (
	Secret = "legacy-mmm-secret"
	Issuer = "mmm_oppmg"
)

// Pair is an mmm token pair as the legacy service answers it.
type Pair struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int64  `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	RefreshExpires int64  `json:"refresh_expires"`
}

// Opaque is an opaque legacy token (bov3, appkey, mobile) and whose it is.
type Opaque struct {
	Subject string
	Expires time.Time
	// Issuer, TokenType, ClientID and Aud are answered when set (RFC
	// 7662's iss, token_type, client_id, aud); AnsweredExp replaces Expires in the
	// answer's exp (a legacy service that says "the year 2100").
	Issuer      string
	TokenType   string
	ClientID    string
	Aud         any
	AnsweredExp time.Time
}

// Service is the fake legacy service, served over HTTP.
type Service struct {
	*httptest.Server
	now func() time.Time

	mu     sync.Mutex
	seen   []*http.Request
	opaque map[string]Opaque
	// Introspections counts calls of the introspection endpoint.
	introspections int
	// hints are the token_type_hint of each introspection.
	hints []string
}

// Start serves a legacy service on the clock now until the test ends.
func Start(t testing.TB, now func() time.Time) *Service {
	s := &Service{now: now, opaque: map[string]Opaque{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/login", s.mmmLogin)
	mux.HandleFunc("GET /v1/auth/refresh_token", s.mmmRefresh)
	mux.HandleFunc("/v1/", s.mmmProtected)
	// /v1/open/ answers 00000 without looking at the token: what a
	// legacy route the gateway would protect but the legacy did not.
	mux.HandleFunc("/v1/open/", func(w http.ResponseWriter, _ *http.Request) { writeMMM(w, "00000", "成功", struct{}{}) })
	mux.HandleFunc("POST /introspect", s.introspect)
	mux.HandleFunc("/", s.bearerProtected)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Clone(r.Context()))
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// Seen returns the requests that reached the service so far.
func (s *Service) Seen() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.seen...)
}

// Hints are the token_type_hint values the introspection endpoint was
// sent, one per call ("" for none).
func (s *Service) Hints() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hints...)
}

// Introspections is how many times the introspection endpoint was asked.
func (s *Service) Introspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.introspections
}

// MMMPair signs a legacy mmm pair for uid in company: access for accessTTL,
// refresh for refreshTTL, both with the legacy secret and no session id.
func (s *Service) MMMPair(t testing.TB, uid, company int64, accessTTL, refreshTTL time.Duration) Pair {
	t.Helper()
	p, err := s.mmmPair(uid, company, accessTTL, refreshTTL)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *Service) mmmPair(uid, company int64, accessTTL, refreshTTL time.Duration) (Pair, error) {
	now := s.now().Truncate(time.Second)
	sign := func(ttl time.Duration) (string, error) {
		tok, err := jwt.NewBuilder().Expiration(now.Add(ttl)).IssuedAt(now).NotBefore(now).Issuer(Issuer).
			Claim("uid", uid).Claim("company_id", company).JwtID(newToken()).Build()
		if err != nil {
			return "", err
		}
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(Secret)))
		return string(b), err
	}
	at, err := sign(accessTTL)
	if err != nil {
		return Pair{}, err
	}
	rt, err := sign(refreshTTL)
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: at, ExpiresIn: now.Add(accessTTL).Unix(), RefreshToken: rt, RefreshExpires: now.Add(refreshTTL).Unix()}, nil
}

// mmmClaims verifies a legacy mmm token: its uid and company, "expired",
// or "invalid".
func (s *Service) mmmClaims(token string) (uid, company int64, verdict string) {
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256, []byte(Secret)), jwt.WithValidate(false))
	if err != nil || tok.Issuer() != Issuer {
		return 0, 0, "invalid"
	}
	u, _ := tok.Get("uid")
	c, _ := tok.Get("company_id")
	uf, ok1 := u.(float64)
	cf, ok2 := c.(float64)
	if !ok1 || !ok2 {
		return 0, 0, "invalid"
	}
	if !s.now().Before(tok.Expiration()) {
		return int64(uf), int64(cf), "expired"
	}
	return int64(uf), int64(cf), "ok"
}

func writeMMM(w http.ResponseWriter, code, msg string, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg, "data": data})
}

// mmmLogin logs "demo" (uid 10, company 1) in with any password but "wrong".
func (s *Service) mmmLogin(w http.ResponseWriter, r *http.Request) {
	var req struct{ Account, Password string }
	_ = json.NewDecoder(r.Body).Decode(&req)
	if req.Account != "demo" || req.Password == "wrong" {
		writeMMM(w, "10003", "账号或密码错误", struct{}{})
		return
	}
	p, err := s.mmmPair(10, 1, 30*time.Minute, 24*time.Hour)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	writeMMM(w, "00000", "成功", p)
}

func (s *Service) mmmRefresh(w http.ResponseWriter, r *http.Request) {
	uid, company, verdict := s.mmmClaims(r.Header.Get("X-Mmm-Refreshtoken"))
	switch verdict {
	case "expired":
		writeMMM(w, "10024", "refresh_token 已过期", struct{}{})
	case "invalid":
		writeMMM(w, "10016", "refresh_token 无效", struct{}{})
	default:
		p, _ := s.mmmPair(uid, company, 30*time.Minute, 24*time.Hour)
		writeMMM(w, "00000", "成功", p)
	}
}

// mmmProtected answers /v1/... as the legacy mmm service: 00000 with the
// caller's uid, 10026 with a new pair when the access token expired and
// the refresh token is good, 10024 when that is expired too, 10013 for a
// token it did not sign, 10011 for none.
func (s *Service) mmmProtected(w http.ResponseWriter, r *http.Request) {
	at := r.Header.Get("X-Mmm-Accesstoken")
	if at == "" {
		writeMMM(w, "10011", "缺少 x-mmm-accesstoken", struct{}{})
		return
	}
	uid, company, verdict := s.mmmClaims(at)
	switch verdict {
	case "invalid":
		writeMMM(w, "10013", "x-mmm-accesstoken 签名无效", struct{}{})
	case "expired":
		ruid, rcompany, rv := s.mmmClaims(r.Header.Get("X-Mmm-Refreshtoken"))
		if rv != "ok" {
			writeMMM(w, "10024", "refresh_token 已过期", struct{}{})
			return
		}
		p, _ := s.mmmPair(ruid, rcompany, 30*time.Minute, 24*time.Hour)
		writeMMM(w, "10026", "已刷新", p)
	default:
		writeMMM(w, "00000", "成功", map[string]any{"uid": uid, "company_id": company})
	}
}

// IssueOpaque mints an opaque legacy token of subject, live for ttl.
func (s *Service) IssueOpaque(subject string, ttl time.Duration) string {
	return s.IssueOpaqueAs(Opaque{Subject: subject, Expires: s.now().Add(ttl)})
}

// IssueOpaqueAs mints an opaque legacy token answered as o.
func (s *Service) IssueOpaqueAs(o Opaque) string {
	tok := newToken()
	s.mu.Lock()
	s.opaque[tok] = o
	s.mu.Unlock()
	return tok
}

// live reports whose a live opaque token is.
func (s *Service) live(tok string) (Opaque, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.opaque[tok]
	return o, ok && s.now().Before(o.Expires)
}

// introspect is POST /introspect with a form's token: RFC 7662's answer,
// {"active": true, "sub": ..., "exp": ...} or {"active": false}.
func (s *Service) introspect(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.introspections++
	s.hints = append(s.hints, r.PostFormValue("token_type_hint"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	o, ok := s.live(r.PostFormValue("token"))
	if !ok {
		_ = json.NewEncoder(w).Encode(map[string]any{"active": false})
		return
	}
	answer := map[string]any{"active": true, "sub": o.Subject, "exp": o.Expires.Unix()}
	if !o.AnsweredExp.IsZero() {
		answer["exp"] = o.AnsweredExp.Unix()
	}
	for k, v := range map[string]any{"iss": o.Issuer, "token_type": o.TokenType, "client_id": o.ClientID, "aud": o.Aud} {
		if v != nil && v != "" {
			answer[k] = v
		}
	}
	_ = json.NewEncoder(w).Encode(answer)
}

// bearerProtected answers every other path: 200 for a live opaque token
// in Authorization (Bearer), 401 otherwise.
func (s *Service) bearerProtected(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	w.Header().Set("Content-Type", "application/json")
	if _, ok := s.live(tok); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
		return
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Forge signs an mmm-shaped token for uid 10 with secret and the legacy
// issuer, expiring at exp (none when exp is zero): a token the legacy
// service did not issue, or issued without an expiry.
func Forge(t testing.TB, secret string, exp time.Time) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(Issuer).Claim("uid", 10).Claim("company_id", 1)
	if !exp.IsZero() {
		b = b.Expiration(exp)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// Unsigned is an mmm-shaped token with "alg":"none" and no signature.
func Unsigned(t testing.TB, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer(Issuer).Claim("uid", 10).Claim("company_id", 1).Expiration(exp).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithInsecureNoSignature())
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// SignMMM signs an mmm-shaped token of the legacy service for uid 10 in
// company 1 with secret, issued at iat (none when zero) and expiring at
// exp, with extra claims: a token of a shape the test chooses (the seed's
// own lifetimes, a kind claim, a refresh key of its own).
func SignMMM(t testing.TB, secret string, iat, exp time.Time, extra map[string]any) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(Issuer).Claim("uid", 10).Claim("company_id", 1).Expiration(exp).NotBefore(iat).JwtID(newToken())
	if !iat.IsZero() {
		b = b.IssuedAt(iat)
	}
	for k, v := range extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}
