package mmm

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Check implements dialects.Dialect: Authenticate without side effects.
func (d *Dialect) Check(r *http.Request) (dialects.Identity, error) {
	return d.Authenticate(dialects.ForCheck(r))
}

// Authenticate implements dialects.Dialect: a valid access token whose
// session is live passes; an expired one is answered by the 10026
// protocol. A legacy access token (legacy block) has no session: it
// passes until it expires.
func (d *Dialect) Authenticate(r *http.Request) (dialects.Identity, error) {
	c, err := d.accessClaims(r)
	if err != nil {
		return dialects.Identity{}, err
	}
	if c.SessionID != "" {
		if err := d.store.CheckSession(r.Context(), c.SessionID, d.now()); err != nil {
			if errors.Is(err, tokenstore.ErrNotFound) {
				return dialects.Identity{}, refuse(CodeRevoked, dialects.ReasonRevoked, "token 已失效,请重新登录", err)
			}
			return dialects.Identity{}, err
		}
	}
	return dialects.Identity{
		Dialect:   d.name,
		Subject:   strconv.FormatInt(c.UID, 10),
		Company:   strconv.FormatInt(c.CompanyID, 10),
		SessionID: c.SessionID,
	}, nil
}

// accessClaims verifies x-mmm-accesstoken, the gateway's or (legacy
// block) the legacy service's. When it has expired, the refresh token in
// x-mmm-refreshtoken is rotated (or, a legacy one, exchanged) and the new
// pair comes back as a refreshedError (10026), or 10024 when that cannot
// be done. A missing token, or one this instance did not sign, is not its
// to decide (dialects.NotMine).
func (d *Dialect) accessClaims(r *http.Request) (claims, error) {
	if err := dialects.Single(r, HeaderAccess, HeaderRefresh); err != nil {
		return claims{}, err
	}
	token := strings.TrimSpace(r.Header.Get(HeaderAccess))
	if token == "" {
		return claims{}, dialects.NotMine(refuse(CodeAccessMissing, dialects.ReasonMissing, "缺少 x-mmm-accesstoken", nil))
	}
	c, err := verify(d.signer.access, token)
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) && d.legacy != nil {
		if lc, kind, lerr := d.legacyTokens.verify(token); !errors.Is(lerr, jwtkit.ErrSignature) {
			if !d.legacy.Open() {
				d.countLegacy(r, dialects.LegacyAccess, "retired")
				return claims{}, dialects.NotMine(refuse(CodeAccessSignature, dialects.ReasonSignature, "x-mmm-accesstoken 签名无效", err))
			}
			if kind != dialects.LegacyAccess {
				// A legacy refresh token (or one of no telling kind) is
				// never an access token.
				d.countLegacy(r, dialects.LegacyAccess, kindResult(kind))
				return claims{}, dialects.NotMine(refuse(CodeAccessSignature, dialects.ReasonSignature, "x-mmm-accesstoken 签名无效", err))
			}
			c, err = lc, lerr
			if err == nil {
				d.countLegacy(r, dialects.LegacyAccess, "accepted")
			} else {
				d.countLegacy(r, dialects.LegacyAccess, "expired")
			}
		}
	}
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, jwtkit.ErrMalformed):
		return claims{}, dialects.NotMine(refuse(CodeAccessMalformed, dialects.ReasonMalformed, "x-mmm-accesstoken 格式错误", err))
	case errors.Is(err, jwtkit.ErrSignature):
		return claims{}, dialects.NotMine(refuse(CodeAccessSignature, dialects.ReasonSignature, "x-mmm-accesstoken 签名无效", err))
	}
	// Expired but genuine: the seed's 10026 / 10024 protocol.
	refresh := strings.TrimSpace(r.Header.Get(HeaderRefresh))
	if refresh == "" {
		return claims{}, refuse(CodeRefreshExpired, dialects.ReasonExpired, "access_token 已过期且无 refresh_token,请重新登录", nil)
	}
	if dialects.Checking(r) {
		// What the client would get, without rotating: in shadow the
		// legacy service answers and its rotation is the one that counts.
		if _, err := d.checkRefresh(r, refresh, &c); err != nil {
			return claims{}, err
		}
		return claims{}, &dialects.AuthError{Reason: dialects.ReasonRefreshed, Err: &refreshedError{}}
	}
	pair, err := d.rotate(r, refresh, &c)
	if err != nil {
		return claims{}, err
	}
	return claims{}, &dialects.AuthError{Reason: dialects.ReasonRefreshed, Err: &refreshedError{pair: pair}}
}

// rotate exchanges a refresh token for a new pair: a gateway one by
// rotation, a legacy one by its exchange for a gateway session. access,
// when set, holds the claims of the expired access token presented with
// it, whose login the refresh token must be of.
func (d *Dialect) rotate(r *http.Request, presented string, access *claims) (Pair, error) {
	ctx := r.Context()
	c, err := d.checkRefresh(r, presented, access)
	if err != nil {
		return Pair{}, err
	}
	now := d.now()
	sid := c.SessionID
	if sid == "" {
		sid = dialects.LegacySessionID(d.keys, presented)
	}
	next, err := d.signer.pair(c.UID, c.CompanyID, sid, now, d.cfg.AccessTTL, d.cfg.RefreshTTL)
	if err != nil {
		return Pair{}, err
	}
	rotation := dialects.Rotation[Pair]{
		Dialect: d.name, SessionID: sid, Presented: presented,
		Next: next, NextRefresh: next.RefreshToken, NextExpiresAt: time.Unix(next.RefreshExpires, 0),
		Grace: d.cfg.RefreshGrace, Now: now,
		Renew: func(earlier Pair) (Pair, error) { return d.signer.renewAccess(earlier, now, d.cfg.AccessTTL) },
	}
	var pair Pair
	if c.SessionID == "" {
		ends, remember := d.legacy.Terms(c.Expires, now, d.cfg.RefreshTTL)
		pair, err = dialects.ExchangeLegacy(ctx, d.store, d.legacy, dialects.Adoption{Session: tokenstore.Session{
			ID: sid, Dialect: d.name, Subject: strconv.FormatInt(c.UID, 10), Company: strconv.FormatInt(c.CompanyID, 10),
			CreatedAt: now, LastSeen: now, ExpiresAt: ends, RefreshHash: dialects.HashToken(presented),
		}, Remember: remember}, rotation)
	} else {
		pair, err = dialects.RotateRefresh(ctx, d.store, d.metrics, rotation)
	}
	switch {
	case errors.Is(err, tokenstore.ErrReused):
		d.log.WarnContext(ctx, "refresh token reused after rotation; session revoked", "session", sid, "uid", c.UID)
		return Pair{}, refuse(CodeRefreshReused, dialects.ReasonRevoked, "refresh_token 已被使用,登录已失效,请重新登录", err)
	case errors.Is(err, tokenstore.ErrNotFound):
		d.metrics.Refreshed(d.name, "revoked")
		return Pair{}, refuse(CodeRevoked, dialects.ReasonRevoked, "token 已失效,请重新登录", err)
	}
	dialects.NoteSubject(r, strconv.FormatInt(c.UID, 10))
	return pair, err
}

// checkRefresh verifies a refresh token, the gateway's or a legacy one
// (no session id), and that its user may still hold it: still in the
// directory and in the token's company (else the session ends). In shadow
// it ends nothing and counts nothing, and it checks the session is live,
// which the rotation would otherwise tell.
func (d *Dialect) checkRefresh(r *http.Request, presented string, access *claims) (claims, error) {
	ctx := r.Context()
	shadow := dialects.Checking(r)
	counted := func(result string) {
		if !shadow {
			d.metrics.Refreshed(d.name, result)
		}
	}
	c, err := d.verifyRefresh(r, presented)
	switch {
	case errors.Is(err, jwtkit.ErrExpired):
		counted("expired")
		return claims{}, refuse(CodeRefreshExpired, dialects.ReasonExpired, "refresh_token 已过期,请重新登录", err)
	case err != nil:
		counted("invalid")
		return claims{}, refuse(CodeRefreshInvalid, dialects.ReasonMalformed, "refresh_token 无效", err)
	case access != nil && !sameLogin(*access, c):
		counted("invalid")
		return claims{}, refuse(CodeRefreshInvalid, dialects.ReasonMalformed, "refresh_token 与 access_token 不属于同一登录", nil)
	}
	user, err := d.users.ByID(ctx, c.UID)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return claims{}, err
	}
	if err != nil || !user.BelongsTo(c.CompanyID) {
		// The user left the users file or the company since login.
		if !shadow && c.SessionID != "" {
			if err := d.store.RevokeSession(ctx, c.SessionID); err != nil {
				return claims{}, err
			}
		}
		counted("revoked")
		return claims{}, refuse(CodeRevoked, dialects.ReasonRevoked, "账号已失效,请重新登录", nil)
	}
	if shadow && c.SessionID != "" {
		if err := d.store.CheckSession(ctx, c.SessionID, d.now()); err != nil {
			if errors.Is(err, tokenstore.ErrNotFound) {
				return claims{}, refuse(CodeRevoked, dialects.ReasonRevoked, "token 已失效,请重新登录", err)
			}
			return claims{}, err
		}
	}
	return c, nil
}

// verifyRefresh verifies a refresh token with the gateway's refresh key
// and, failing that, the legacy secrets while the legacy window is open.
func (d *Dialect) verifyRefresh(r *http.Request, presented string) (claims, error) {
	c, err := verify(d.signer.refresh, presented)
	if err == nil || errors.Is(err, jwtkit.ErrExpired) || d.legacy == nil {
		return c, err
	}
	lc, kind, lerr := d.legacyTokens.verify(presented)
	switch {
	case errors.Is(lerr, jwtkit.ErrSignature):
		return c, err
	case !d.legacy.Open():
		d.countLegacy(r, dialects.LegacyRefresh, "retired")
		return claims{}, err
	case kind != dialects.LegacyRefresh:
		// A legacy access token is never exchanged: it travels on every
		// request, and would become a session of refresh_ttl.
		d.countLegacy(r, dialects.LegacyRefresh, kindResult(kind))
		return claims{}, jwtkit.ErrMalformed
	case lerr != nil:
		d.countLegacy(r, dialects.LegacyRefresh, "expired")
	}
	return lc, lerr
}

// countLegacy counts a legacy token's fate, but not in shadow, where the
// legacy service still decides.
func (d *Dialect) countLegacy(r *http.Request, kind, result string) {
	if !dialects.Checking(r) {
		d.legacy.Count(kind, result)
	}
}

// sameLogin reports whether a refresh token's claims belong to the login
// of an expired access token presented with it: the same session, or for
// a legacy access token (no session) the same user.
func sameLogin(access, refresh claims) bool {
	if access.SessionID != "" {
		return refresh.SessionID == access.SessionID
	}
	return refresh.UID == access.UID
}

// refresh is GET /v1/auth/refresh_token with x-mmm-refreshtoken.
func (d *Dialect) refresh(w http.ResponseWriter, r *http.Request) error {
	if err := dialects.Single(r, HeaderRefresh, HeaderAccess); err != nil {
		return err
	}
	token := strings.TrimSpace(r.Header.Get(HeaderRefresh))
	if token == "" {
		return refuse(CodeRefreshMissing, dialects.ReasonMissing, "缺少 x-mmm-refreshtoken", nil)
	}
	pair, err := d.rotate(r, token, nil)
	if err != nil {
		return err
	}
	writeOK(w, pair)
	return nil
}

type changeCompanyRequest struct {
	CompanyID *int64 `json:"company_id"`
}

// changeCompany is POST /v1/auth/change_company {"company_id": 2} with a
// valid access token: a new pair for the same session, in that company.
func (d *Dialect) changeCompany(w http.ResponseWriter, r *http.Request) error {
	id, err := d.Authenticate(r)
	if err != nil {
		return err
	}
	var req changeCompanyRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.CompanyID == nil {
		return &dialects.RequestError{Msg: "company_id is required"}
	}
	uid, _ := strconv.ParseInt(id.Subject, 10, 64)
	user, err := d.users.ByID(r.Context(), uid)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	if err != nil || !user.BelongsTo(*req.CompanyID) {
		return &wireError{code: CodeCompanyNotMember, msg: "无权切换到该公司", status: http.StatusOK}
	}
	pair, err := d.switchCompany(r.Context(), id, uid, *req.CompanyID, d.now())
	if err != nil {
		return err
	}
	d.metrics.Issued(d.name, "change_company")
	dialects.NoteSubject(r, id.Subject)
	writeOK(w, pair)
	return nil
}

// switchCompany issues the pair of a company switch: for the same session
// with a new refresh token (the old one stops working), or, for a legacy
// access token, which has no session, for a new one, as a login would.
func (d *Dialect) switchCompany(ctx context.Context, id dialects.Identity, uid, company int64, now time.Time) (Pair, error) {
	if id.SessionID == "" {
		return d.startSession(ctx, uid, company, now)
	}
	pair, err := d.signer.pair(uid, company, id.SessionID, now, d.cfg.AccessTTL, d.cfg.RefreshTTL)
	if err != nil {
		return Pair{}, err
	}
	err = d.store.ReissueRefresh(ctx, tokenstore.Reissue{
		SessionID: id.SessionID, Next: dialects.HashToken(pair.RefreshToken),
		NextExpiresAt: time.Unix(pair.RefreshExpires, 0), Company: strconv.FormatInt(company, 10), Now: now,
	})
	if errors.Is(err, tokenstore.ErrNotFound) {
		return Pair{}, refuse(CodeRevoked, dialects.ReasonRevoked, "token 已失效,请重新登录", err)
	}
	return pair, err
}

// logout is POST /v1/auth/logout with a valid access token: the session
// ends and neither of its tokens works again.
func (d *Dialect) logout(w http.ResponseWriter, r *http.Request) error {
	id, err := d.Authenticate(r)
	if err != nil {
		return err
	}
	if err := d.store.RevokeSession(r.Context(), id.SessionID); err != nil {
		return err
	}
	dialects.NoteSubject(r, id.Subject)
	writeOK(w, struct{}{})
	return nil
}
