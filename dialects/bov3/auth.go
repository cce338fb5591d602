package bov3

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/tokenstore"
)

// checkContext enforces the headers every bov3 request carries: XownerId,
// and XverifyApi as configured. It returns the owner.
func (d *Dialect) checkContext(r *http.Request) (string, error) {
	if err := dialects.Single(r, append([]string{"Authorization", HeaderVerify}, ContextHeaders...)...); err != nil {
		return "", err
	}
	owner := strings.TrimSpace(r.Header.Get(HeaderOwner))
	if owner == "" {
		return "", refuse(codeOwnerMissing, dialects.ReasonMissing, "XownerId header is required", nil)
	}
	if d.verify == nil {
		return owner, nil
	}
	h := strings.TrimSpace(r.Header.Get(HeaderVerify))
	if h == "" {
		if d.cfg.Verify.Enforcement == "optional" {
			return owner, nil
		}
		d.m.verifyFailures.WithLabelValues("missing").Inc()
		return "", refuse(codeVerifyMissing, dialects.ReasonMissing, "XverifyApi header is required", nil)
	}
	plain, err := d.verify.Decrypt(h)
	if err != nil {
		d.m.verifyFailures.WithLabelValues(verifyReason(err)).Inc()
		return "", refuse(codeVerifyInvalid, dialects.ReasonMalformed, "XverifyApi header is invalid", err)
	}
	claim, err := ParseVerifyPlain(plain)
	if err != nil {
		d.m.verifyFailures.WithLabelValues("format").Inc()
		return "", refuse(codeVerifyInvalid, dialects.ReasonMalformed, "XverifyApi header is invalid", err)
	}
	now := d.now()
	if !claim.At.IsZero() && (claim.At.Sub(now) > d.cfg.Verify.Skew || now.Sub(claim.At) > d.cfg.Verify.Skew) {
		d.m.verifyFailures.WithLabelValues("skew").Inc()
		return "", refuse(codeVerifyStale, dialects.ReasonExpired, "XverifyApi timestamp is outside the allowed window", ErrVerifyTimestamp)
	}
	if dialects.Checking(r) {
		// A shadow check must not spend the client's GUID, which the
		// legacy service is about to check: replays go unseen in shadow.
		return owner, nil
	}
	fresh, err := d.store.UseNonce(r.Context(), d.keys.Key(claim.GUID), d.cfg.Verify.ReplayWindow, now)
	if err != nil {
		return "", err
	}
	if !fresh {
		d.m.verifyFailures.WithLabelValues("replay").Inc()
		return "", refuse(codeVerifyReplayed, dialects.ReasonRevoked, "XverifyApi header was already used", nil)
	}
	return owner, nil
}

func verifyReason(err error) string {
	switch {
	case errors.Is(err, ErrVerifyEncoding):
		return "encoding"
	case errors.Is(err, ErrVerifyDecrypt):
		return "decrypt"
	case errors.Is(err, ErrVerifyPadding):
		return "padding"
	default:
		return "format"
	}
}

// Check implements dialects.Dialect: Authenticate without side effects.
func (d *Dialect) Check(r *http.Request) (dialects.Identity, error) {
	return d.Authenticate(dialects.ForCheck(r))
}

// Authenticate implements dialects.Dialect: a Bearer access token this
// instance signed, then XownerId and XverifyApi, then the token's expiry,
// its owner (the same XownerId) and its live session. A request without
// such a token is not this dialect's (dialects.NotMine); its nonce is
// then left unused.
func (d *Dialect) Authenticate(r *http.Request) (dialects.Identity, error) {
	// One of each, whoever's token it is: the context headers reach the
	// upstream, which must not have to choose between two XownerId.
	if err := dialects.Single(r, append([]string{"Authorization", HeaderVerify}, ContextHeaders...)...); err != nil {
		return dialects.Identity{}, err
	}
	token, ok := dialects.BearerToken(r, "Authorization")
	if !ok || token == "" {
		return dialects.Identity{}, dialects.NotMine(d.contextRefusal(r, refuse(codeTokenMissing, dialects.ReasonMissing, "Authorization: Bearer token is required", nil)))
	}
	tok, verr := d.access.Verify(token)
	switch {
	case errors.Is(verr, jwtkit.ErrSignature):
		return dialects.Identity{}, d.unverified(r, refuse(codeTokenInvalid, dialects.ReasonSignature, "access token is invalid", verr))
	case verr != nil && !errors.Is(verr, jwtkit.ErrExpired):
		return dialects.Identity{}, d.unverified(r, refuse(codeTokenInvalid, dialects.ReasonMalformed, "access token is invalid", verr))
	}
	owner, err := d.checkContext(r)
	if err != nil {
		return dialects.Identity{}, err
	}
	if verr != nil {
		return dialects.Identity{}, refuse(codeTokenExpired, dialects.ReasonExpired, "access token expired", verr)
	}
	sid, ok1 := jwtkit.String(tok, "sid")
	tokOwner, ok2 := jwtkit.String(tok, "owner")
	userID, ok3 := jwtkit.String(tok, "id")
	if !ok1 || !ok2 || !ok3 || !slices.Contains(tok.Audience(), d.cfg.Audience) {
		return dialects.Identity{}, refuse(codeTokenInvalid, dialects.ReasonMalformed, "access token is invalid", nil)
	}
	if tokOwner != owner {
		return dialects.Identity{}, refuse(codeOwnerMismatch, dialects.ReasonRevoked, "the token was issued for another project (XownerId)", nil)
	}
	if err := d.store.CheckSession(r.Context(), sid, d.now()); err != nil {
		if errors.Is(err, tokenstore.ErrNotFound) {
			return dialects.Identity{}, refuse(codeTokenRevoked, dialects.ReasonRevoked, "the login has ended", err)
		}
		return dialects.Identity{}, err
	}
	roles, _ := tok.Get("role_id")
	roleStr, _ := roles.(string)
	return dialects.Identity{
		Dialect: d.name, Subject: userID, SessionID: sid,
		Attrs: map[string]string{"owner_id": owner, "roles": roleStr},
	}, nil
}

// unverified refuses a token this instance could not verify: as expired
// while the legacy window is open (a legacy token's client then
// refreshes), else as refusal; a missing context header first either way.
func (d *Dialect) unverified(r *http.Request, refusal error) error {
	if d.legacy.Open() && d.contextRefusal(r, nil) == nil {
		return d.legacy.Unverified(refusal, refuse(codeTokenExpired, dialects.ReasonExpired, "access token expired", nil))
	}
	return dialects.NotMine(d.contextRefusal(r, refusal))
}

// contextRefusal is what a request without a token of this instance's is
// told when no other dialect claims it: a missing context header first,
// in the order checkContext checks them, else refusal.
func (d *Dialect) contextRefusal(r *http.Request, refusal error) error {
	if strings.TrimSpace(r.Header.Get(HeaderOwner)) == "" {
		return refuse(codeOwnerMissing, dialects.ReasonMissing, "XownerId header is required", nil)
	}
	if d.verify != nil && d.cfg.Verify.Enforcement == "required" && strings.TrimSpace(r.Header.Get(HeaderVerify)) == "" {
		return refuse(codeVerifyMissing, dialects.ReasonMissing, "XverifyApi header is required", nil)
	}
	return refusal
}
