package mmm

import (
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
)

// Pair is the seed's token response: both expiries are absolute unix
// seconds.
type Pair struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int64  `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	RefreshExpires int64  `json:"refresh_expires"`
}

// claims is what an mmm token carries beyond the registered claims.
type claims struct {
	UID       int64
	CompanyID int64
	// SessionID is the gateway session; a legacy token has none.
	SessionID string
	// Expires is the token's expiry.
	Expires time.Time
}

// signer issues and verifies the dialect's JWTs. Access tokens are signed
// with the secret itself (a legacy service holding it can still verify
// them), refresh tokens with a key derived from it, so neither can stand
// in for the other.
type signer struct {
	access  *jwtkit.HS256
	refresh *jwtkit.HS256
}

func newSigner(issuer string, secret []byte, previous [][]byte, now func() time.Time) *signer {
	prevRefresh := make([][]byte, len(previous))
	for i, p := range previous {
		prevRefresh[i] = refreshKey(p)
	}
	s := &signer{
		access:  jwtkit.New(secret, issuer, now, jwtkit.DefaultCacheSize).AcceptAlso(previous...),
		refresh: jwtkit.New(refreshKey(secret), issuer, now, 0).AcceptAlso(prevRefresh...),
	}
	return s
}

// refreshKey derives the refresh tokens' key from a secret.
func refreshKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authgate mmm refresh token key"))
	return m.Sum(nil)
}

func build(c claims, now, exp time.Time) *jwt.Builder {
	return jwt.NewBuilder().
		Expiration(exp).
		IssuedAt(now).
		NotBefore(now).
		Claim("uid", c.UID).
		Claim("company_id", c.CompanyID).
		Claim("sid", c.SessionID)
}

// pair issues an access and a refresh token for one session.
func (s *signer) pair(uid, company int64, sid string, now time.Time, accessTTL, refreshTTL time.Duration) (Pair, error) {
	now = now.Truncate(time.Second)
	c := claims{UID: uid, CompanyID: company, SessionID: sid}
	at, err := s.access.Sign(build(c, now, now.Add(accessTTL)))
	if err != nil {
		return Pair{}, err
	}
	// A refresh token must be unique even when two are issued for one
	// session within a second: its hash is its identity in the store.
	rt, err := s.refresh.Sign(build(c, now, now.Add(refreshTTL)).JwtID(dialects.NewID()))
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: at, ExpiresIn: now.Add(accessTTL).Unix(), RefreshToken: rt, RefreshExpires: now.Add(refreshTTL).Unix()}, nil
}

// renewAccess gives p a new access token when its own has expired at now,
// keeping its refresh token: what a grace-window replay hands back.
func (s *signer) renewAccess(p Pair, now time.Time, accessTTL time.Duration) (Pair, error) {
	if now.Unix() < p.ExpiresIn {
		return p, nil
	}
	c, err := verify(s.refresh, p.RefreshToken)
	if err != nil {
		return Pair{}, err
	}
	now = now.Truncate(time.Second)
	at, err := s.access.Sign(build(c, now, now.Add(accessTTL)))
	if err != nil {
		return Pair{}, err
	}
	p.AccessToken, p.ExpiresIn = at, now.Add(accessTTL).Unix()
	return p, nil
}

// verify checks a token with k and reads its claims. An expired but
// genuine token returns its claims with jwtkit.ErrExpired.
func verify(k *jwtkit.HS256, token string) (claims, error) {
	tok, err := k.Verify(token)
	if tok == nil {
		return claims{}, err
	}
	uid, ok1 := jwtkit.Int(tok, "uid")
	company, ok2 := jwtkit.Int(tok, "company_id")
	sid, ok3 := jwtkit.String(tok, "sid")
	if !ok1 || !ok2 || !ok3 {
		return claims{}, jwtkit.ErrMalformed
	}
	return claims{UID: uid, CompanyID: company, SessionID: sid, Expires: tok.Expiration()}, err
}
