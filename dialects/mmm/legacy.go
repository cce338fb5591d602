package mmm

import (
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
)

// LegacyConfig is the `legacy` block: the legacy service's HS256 secrets
// and issuer. Its access tokens (no session id) are accepted until they
// expire; its refresh tokens are exchanged once for a gateway session.
// Both only until Until, and each only in its own role (Kind).
type LegacyConfig struct {
	// Secrets are the legacy service's signing secrets, several while it
	// rotated its own key; any one that verifies a token will do.
	Secrets []dialects.SecretRef `koanf:"secrets"`
	// RefreshSecrets, for a legacy service that signed its refresh tokens
	// with a key of their own (kind.by: key): then Secrets sign only
	// access tokens.
	RefreshSecrets []dialects.SecretRef `koanf:"refresh_secrets"`
	// Issuer is the legacy tokens' iss claim.
	Issuer string `koanf:"issuer"`
	// Until is the date (midnight UTC) or RFC 3339 time from which legacy
	// tokens are refused; unset for no end.
	Until time.Time `koanf:"until"`
	// Kind tells legacy access tokens from legacy refresh tokens.
	Kind LegacyKind `koanf:"kind"`
}

// LegacyKind is the rule that tells a legacy token's kind. The seed's
// tokens carry the same claims in both kinds, signed with one key; what
// differs in its example is the lifetime (exp − iat: 1802 s for the access
// token, 3602 s for the refresh token), hence the default.
type LegacyKind struct {
	// By is lifetime (exp − iat), claim (a claim's value) or key
	// (refresh_secrets).
	By string `koanf:"by"`
	// AccessLifetime and RefreshLifetime are the legacy service's token
	// lifetimes; a token whose exp − iat is within Tolerance of one is of
	// that kind, and of neither kind otherwise.
	AccessLifetime  time.Duration `koanf:"access_lifetime"`
	RefreshLifetime time.Duration `koanf:"refresh_lifetime"`
	Tolerance       time.Duration `koanf:"tolerance"`
	// Claim names the claim whose value is AccessValue or RefreshValue.
	Claim        string `koanf:"claim"`
	AccessValue  string `koanf:"access_value"`
	RefreshValue string `koanf:"refresh_value"`
}

// Ways to tell a legacy token's kind.
const (
	kindByLifetime = "lifetime"
	kindByClaim    = "claim"
	kindByKey      = "key"
)

func defaultLegacy() LegacyConfig {
	return LegacyConfig{Issuer: "mmm_oppmg", Kind: LegacyKind{
		By: kindByLifetime, AccessLifetime: 30 * time.Minute, RefreshLifetime: time.Hour, Tolerance: time.Minute,
	}}
}

// check names each problem of the rule by its key.
func (k LegacyKind) check(refreshSecrets int) []error {
	var errs []error
	switch k.By {
	case kindByLifetime:
		if k.AccessLifetime <= 0 || k.RefreshLifetime <= 0 || k.Tolerance < 0 {
			errs = append(errs, errors.New("legacy.kind.access_lifetime: access_lifetime and refresh_lifetime must be positive, tolerance not negative"))
		} else if d := k.RefreshLifetime - k.AccessLifetime; d < 0 && -d <= 2*k.Tolerance || d >= 0 && d <= 2*k.Tolerance {
			errs = append(errs, fmt.Errorf("legacy.kind.refresh_lifetime: %v is within twice the tolerance %v of access_lifetime %v: the kinds cannot be told apart by lifetime; use kind.by claim or key", k.RefreshLifetime, k.Tolerance, k.AccessLifetime))
		}
	case kindByClaim:
		if k.Claim == "" || k.AccessValue == "" || k.RefreshValue == "" || k.AccessValue == k.RefreshValue {
			errs = append(errs, errors.New("legacy.kind.claim: kind.by claim needs claim, and access_value and refresh_value that differ"))
		}
	case kindByKey:
		if refreshSecrets == 0 {
			errs = append(errs, errors.New("legacy.refresh_secrets: required with legacy.kind.by key: the key(s) the legacy service signed its refresh tokens with"))
		}
	default:
		errs = append(errs, fmt.Errorf("legacy.kind.by: %q is not one of lifetime, claim, key", k.By))
	}
	if k.By != kindByKey && refreshSecrets > 0 {
		errs = append(errs, errors.New("legacy.refresh_secrets: only with legacy.kind.by key (refresh tokens told apart by their key)"))
	}
	return errs
}

// newLegacy builds the legacy window and the verifier of legacy tokens.
func newLegacy(name string, lc LegacyConfig, deps dialects.Deps) (*dialects.Legacy, *legacyVerifier, []error) {
	if len(lc.Secrets) == 0 {
		var errs []error
		if !lc.Until.IsZero() {
			errs = append(errs, errors.New("legacy.secrets: required with legacy.until: the legacy service's HS256 secret(s), to verify the tokens its clients hold"))
		}
		if len(lc.RefreshSecrets) > 0 {
			errs = append(errs, errors.New("legacy.secrets: required with legacy.refresh_secrets: the key(s) of the legacy access tokens"))
		}
		return nil, nil, errs
	}
	var errs []error
	if lc.Issuer == "" {
		errs = append(errs, errors.New("legacy.issuer: must not be empty"))
	}
	errs = append(errs, lc.Kind.check(len(lc.RefreshSecrets))...)
	keys, keyErrs := dialects.LegacySecrets("legacy.secrets", lc.Secrets, deps)
	refreshKeys, refreshErrs := dialects.LegacySecrets("legacy.refresh_secrets", lc.RefreshSecrets, deps)
	if errs = append(append(errs, keyErrs...), refreshErrs...); len(errs) > 0 {
		return nil, nil, errs
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	v := &legacyVerifier{kind: lc.Kind}
	for _, k := range keys {
		v.keys = append(v.keys, jwtkit.New(k, lc.Issuer, now, jwtkit.DefaultCacheSize))
	}
	for _, k := range refreshKeys {
		v.refreshKeys = append(v.refreshKeys, jwtkit.New(k, lc.Issuer, now, 0))
	}
	return dialects.LegacyWindow(name, lc.Until, deps), v, nil
}

// legacyVerifier verifies the legacy service's tokens and tells their
// kind.
type legacyVerifier struct {
	// keys verify legacy tokens (only access tokens with kind.by key).
	keys []*jwtkit.HS256
	// refreshKeys verify legacy refresh tokens (kind.by key).
	refreshKeys []*jwtkit.HS256
	kind        LegacyKind
}

// verify checks token against the legacy keys: its claims and kind
// (LegacyAccess, LegacyRefresh, or "" when the rule cannot decide) when
// one of them signed it with the legacy issuer, uid and company_id, and
// an exp (ErrExpired with them when it has passed); else the gateway's
// verdict stands, and ErrSignature says so.
func (v *legacyVerifier) verify(token string) (claims, string, error) {
	for _, set := range []struct {
		keys []*jwtkit.HS256
		kind string
	}{{v.keys, dialects.LegacyAccess}, {v.refreshKeys, dialects.LegacyRefresh}} {
		for _, k := range set.keys {
			tok, err := k.Verify(token)
			if errors.Is(err, jwtkit.ErrSignature) {
				continue
			}
			if tok == nil {
				return claims{}, "", jwtkit.ErrSignature
			}
			uid, ok1 := jwtkit.Int(tok, "uid")
			company, ok2 := jwtkit.Int(tok, "company_id")
			if !ok1 || !ok2 {
				return claims{}, "", jwtkit.ErrSignature
			}
			kind := set.kind
			if v.kind.By != kindByKey {
				kind = v.kind.of(tok)
			}
			return claims{UID: uid, CompanyID: company, Expires: tok.Expiration()}, kind, err
		}
	}
	return claims{}, "", jwtkit.ErrSignature
}

// of tells a token's kind by its claims: "" when the rule cannot decide.
func (k LegacyKind) of(tok jwt.Token) string {
	if k.By == kindByClaim {
		v, ok := tok.Get(k.Claim)
		if !ok {
			return ""
		}
		switch fmt.Sprint(v) {
		case k.AccessValue:
			return dialects.LegacyAccess
		case k.RefreshValue:
			return dialects.LegacyRefresh
		}
		return ""
	}
	if tok.IssuedAt().IsZero() {
		return ""
	}
	life := tok.Expiration().Sub(tok.IssuedAt())
	near := func(want time.Duration) bool { return life >= want-k.Tolerance && life <= want+k.Tolerance }
	switch {
	case near(k.AccessLifetime):
		return dialects.LegacyAccess
	case near(k.RefreshLifetime):
		return dialects.LegacyRefresh
	}
	return ""
}

// kindResult is the legacy metric's result for a token presented in the
// role it is not of: got is its kind, "" when undecided.
func kindResult(got string) string {
	if got == "" {
		return dialects.LegacyUndecided
	}
	return dialects.LegacyWrongKind
}
