package mmm

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
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
	SessionID string
	Expiry    time.Time
}

// signer issues and verifies the dialect's JWTs. Access and refresh tokens
// are signed with different keys (the refresh key is derived from the
// secret), so neither can stand in for the other.
type signer struct {
	issuer     string
	accessKey  []byte
	refreshKey []byte
	now        func() time.Time
	// verified remembers access tokens whose signature and claims checked
	// out, keyed by the whole token (signature included), so the hot path
	// skips JWT parsing for a token it has seen. Expiry is still checked
	// against the clock on every use, and revocation is the store's
	// business, checked on every request all the same.
	verified *lru.Cache[string, claims]
}

// verifiedCacheSize bounds the verified-token cache (about 200 bytes an
// entry).
const verifiedCacheSize = 50_000

func newSigner(issuer string, secret []byte, now func() time.Time) *signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authgate mmm refresh token key"))
	cache, _ := lru.New[string, claims](verifiedCacheSize) // errors only on a size <= 0
	return &signer{issuer: issuer, accessKey: secret, refreshKey: m.Sum(nil), now: now, verified: cache}
}

// verifyAccess is verify with the access key, through the cache.
func (s *signer) verifyAccess(token string) (claims, error) {
	if c, ok := s.verified.Get(token); ok {
		if s.now().Before(c.Expiry) {
			return c, nil
		}
		s.verified.Remove(token)
	}
	c, err := s.verify(token, s.accessKey)
	if err == nil {
		s.verified.Add(token, c)
	}
	return c, err
}

func (s *signer) sign(c claims, key []byte, now time.Time, withID bool) (string, error) {
	b := jwt.NewBuilder().
		Expiration(c.Expiry).
		IssuedAt(now).
		Issuer(s.issuer).
		NotBefore(now).
		Claim("uid", c.UID).
		Claim("company_id", c.CompanyID).
		Claim("sid", c.SessionID)
	if withID {
		// A refresh token must be unique even when two are issued for one
		// session within a second: its hash is its identity in the store.
		b = b.JwtID(dialects.NewID())
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("mmm: build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key))
	if err != nil {
		return "", fmt.Errorf("mmm: sign token: %w", err)
	}
	return string(signed), nil
}

// pair issues an access and a refresh token for one session.
func (s *signer) pair(uid, company int64, sid string, now time.Time, accessTTL, refreshTTL time.Duration) (Pair, error) {
	now = now.Truncate(time.Second)
	access := claims{UID: uid, CompanyID: company, SessionID: sid, Expiry: now.Add(accessTTL)}
	refresh := claims{UID: uid, CompanyID: company, SessionID: sid, Expiry: now.Add(refreshTTL)}
	at, err := s.sign(access, s.accessKey, now, false)
	if err != nil {
		return Pair{}, err
	}
	rt, err := s.sign(refresh, s.refreshKey, now, true)
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: at, ExpiresIn: access.Expiry.Unix(), RefreshToken: rt, RefreshExpires: refresh.Expiry.Unix()}, nil
}

// Verification verdicts, told apart because each has its own wire code.
var (
	errMalformed = errors.New("malformed token")
	errSignature = errors.New("bad signature")
	errExpired   = errors.New("token expired")
)

// verify checks a token's signature, issuer and times. An expired but
// genuine token returns its claims with errExpired, because the 10026
// protocol needs the session of an expired access token.
func (s *signer) verify(token string, key []byte) (claims, error) {
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256, key), jwt.WithValidate(false))
	if err != nil {
		if _, perr := jwt.ParseString(token, jwt.WithVerify(false), jwt.WithValidate(false)); perr != nil {
			return claims{}, errMalformed
		}
		return claims{}, errSignature
	}
	c, ok := readClaims(tok)
	if !ok || tok.Issuer() != s.issuer {
		// Signed with our key yet not our shape: not ours to accept.
		return claims{}, errMalformed
	}
	err = jwt.Validate(tok, jwt.WithClock(jwt.ClockFunc(s.now)), jwt.WithRequiredClaim("exp"))
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, jwt.ErrTokenExpired()):
		return c, errExpired
	default:
		return claims{}, errMalformed
	}
}

func readClaims(tok jwt.Token) (claims, bool) {
	uid, ok1 := intClaim(tok, "uid")
	company, ok2 := intClaim(tok, "company_id")
	sidv, _ := tok.Get("sid")
	sid, ok3 := sidv.(string)
	if !ok1 || !ok2 || !ok3 || sid == "" {
		return claims{}, false
	}
	return claims{UID: uid, CompanyID: company, SessionID: sid, Expiry: tok.Expiration()}, true
}

// intClaim reads a JSON number claim that must be a whole number.
func intClaim(tok jwt.Token, name string) (int64, bool) {
	v, ok := tok.Get(name)
	if !ok {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
