package mobile

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// accessClaims is what a mobile access token carries.
type accessClaims struct {
	UID         int64
	SessionID   string
	Device      string
	Mobile      string
	CompanyType int64
	ProductType int64
}

func (d *Dialect) issueAccess(uid int64, sid, device, mobile string, companyType, product int32, now time.Time) (string, time.Time, error) {
	now = now.Truncate(time.Second)
	exp := now.Add(d.cfg.AccessTTL)
	tok, err := d.access.Sign(jwt.NewBuilder().
		Subject(strconv.FormatInt(uid, 10)).
		IssuedAt(now).NotBefore(now).Expiration(exp).
		Claim("uid", uid).Claim("sid", sid).Claim("dev", device).Claim("mobile", mobile).
		Claim("ct", companyType).Claim("pt", product))
	return tok, exp, err
}

// verifyAccess reads an access token; expired but genuine tokens come
// back with jwtkit.ErrExpired and their claims.
func (d *Dialect) verifyAccess(token string) (accessClaims, error) {
	tok, err := d.access.Verify(token)
	if tok == nil {
		return accessClaims{}, err
	}
	var c accessClaims
	var ok [5]bool
	c.UID, ok[0] = jwtkit.Int(tok, "uid")
	c.SessionID, ok[1] = jwtkit.String(tok, "sid")
	c.CompanyType, ok[2] = jwtkit.Int(tok, "ct")
	c.ProductType, ok[3] = jwtkit.Int(tok, "pt")
	c.Mobile, ok[4] = jwtkit.String(tok, "mobile")
	dev, _ := tok.Get("dev")
	c.Device, _ = dev.(string)
	for _, b := range ok {
		if !b {
			return accessClaims{}, jwtkit.ErrMalformed
		}
	}
	return c, err
}

// bearer reads the token header, with or without a "Bearer " prefix.
func (d *Dialect) bearer(r *http.Request) string {
	if t, ok := dialects.BearerToken(r, d.cfg.TokenHeader); ok {
		return t
	}
	return strings.TrimSpace(r.Header.Get(d.cfg.TokenHeader))
}

// gone explains a session that is no longer in the store: kicked by a
// login elsewhere, or ended (expired, revoked).
func (d *Dialect) gone(ctx context.Context, c accessClaims, now time.Time) error {
	st, err := d.store.SeatState(ctx, d.seatKey(c.UID, int32(c.ProductType)), c.Device, now)
	if err != nil {
		return err
	}
	if !st.DisplacedAt.IsZero() {
		return refuse(CodeKicked, dialects.ReasonRevoked, "账号已在其他设备登录", nil)
	}
	return refuse(CodeLoginExpired, dialects.ReasonRevoked, "登录已失效,请重新登录", nil)
}

// expired is the refusal of an expired access token, after which the
// client refreshes.
func (d *Dialect) expired(err error) error {
	return refuse(CodeTokenExpired, dialects.ReasonExpired, "token 已过期", err)
}

// Check implements dialects.Dialect: Authenticate without side effects.
func (d *Dialect) Check(r *http.Request) (dialects.Identity, error) {
	return d.Authenticate(dialects.ForCheck(r))
}

// Authenticate implements dialects.Dialect.
func (d *Dialect) Authenticate(r *http.Request) (dialects.Identity, error) {
	if err := dialects.Single(r, d.cfg.TokenHeader); err != nil {
		return dialects.Identity{}, err
	}
	token := d.bearer(r)
	if token == "" {
		return dialects.Identity{}, dialects.NotMine(refuse(CodeTokenMissing, dialects.ReasonMissing, "缺少 token", nil))
	}
	c, err := d.verifyAccess(token)
	switch {
	case errors.Is(err, jwtkit.ErrExpired):
		return dialects.Identity{}, d.expired(err)
	case errors.Is(err, jwtkit.ErrSignature):
		return dialects.Identity{}, d.legacy.Unverified(refuse(CodeTokenInvalid, dialects.ReasonSignature, "token 无效", err), d.expired(err))
	case err != nil:
		return dialects.Identity{}, d.legacy.Unverified(refuse(CodeTokenInvalid, dialects.ReasonMalformed, "token 无效", err), d.expired(err))
	}
	ctx, now := r.Context(), d.now()
	if err := d.store.CheckSession(ctx, c.SessionID, now); err != nil {
		if errors.Is(err, tokenstore.ErrNotFound) {
			return dialects.Identity{}, d.gone(ctx, c, now)
		}
		return dialects.Identity{}, err
	}
	return dialects.Identity{
		Dialect: d.name, Subject: strconv.FormatInt(c.UID, 10), SessionID: c.SessionID,
		Attrs: map[string]string{
			"mobile": c.Mobile, "device": c.Device,
			"company_type": strconv.FormatInt(c.CompanyType, 10), "product_type": strconv.FormatInt(c.ProductType, 10),
		},
	}, nil
}

type refreshRequest struct {
	AccessToken  *string `json:"accessToken"`
	RefreshToken *string `json:"refreshToken"`
}

// refresh is POST /app/auth/token/refresh {accessToken, refreshToken}: the
// access token may have expired but must be genuine and of the refresh
// token's session; the answer is a new access token.
func (d *Dialect) refresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.AccessToken == nil || *req.AccessToken == "" || req.RefreshToken == nil || *req.RefreshToken == "" {
		return &dialects.RequestError{Msg: "accessToken and refreshToken are required"}
	}
	c, err := d.verifyAccess(*req.AccessToken)
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) && d.legacy != nil {
		// Not the gateway's access token: perhaps a legacy pair.
		return d.exchangeLegacy(w, r, *req.RefreshToken)
	}
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(CodeTokenInvalid, dialects.ReasonMalformed, "accessToken 无效", err)
	}
	ctx, now := r.Context(), d.now()
	sess, err := d.store.Session(ctx, c.SessionID, now)
	if errors.Is(err, tokenstore.ErrNotFound) {
		d.metrics.Refreshed(d.name, "revoked")
		return d.gone(ctx, c, now)
	}
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(dialects.HashToken(*req.RefreshToken))) != 1 {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(CodeRefreshInvalid, dialects.ReasonMalformed, "refreshToken 无效或不属于该登录", nil)
	}
	access, exp, err := d.issueAccess(c.UID, c.SessionID, c.Device, c.Mobile, int32(c.CompanyType), int32(c.ProductType), now)
	if err != nil {
		return err
	}
	d.metrics.Refreshed(d.name, "rotated")
	d.metrics.Issued(d.name, "refresh")
	dialects.NoteSubject(r, strconv.FormatInt(c.UID, 10))
	writeOK(w, Token{Expire: d.formatTime(exp), Value: access})
	return nil
}

// exchangeLegacy answers a refresh with a legacy pair: the legacy service
// says whether the refresh token is genuine and whose number it is; the
// token becomes a gateway session (once: an ended one is not adopted
// again) which the client goes on refreshing with the same refresh token
// and the gateway's access tokens. The device is the request's device
// header; a device displaced by a newer login elsewhere is told so.
func (d *Dialect) exchangeLegacy(w http.ResponseWriter, r *http.Request, refresh string) error {
	ctx, now := r.Context(), d.now()
	a, err := d.legacy.Check(ctx, refresh)
	if errors.Is(err, dialects.ErrLegacyRefused) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(CodeRefreshInvalid, dialects.ReasonRevoked, "refreshToken 无效或不属于该登录", err)
	}
	if err != nil {
		return err
	}
	u, err := d.knownUser(ctx, a.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		d.legacy.Count(dialects.LegacyRefresh, "refused")
		return refuse(CodeRefreshInvalid, dialects.ReasonRevoked, "refreshToken 无效或不属于该登录", err)
	}
	if err != nil {
		return err
	}
	device := r.Header.Get(d.cfg.DeviceHeader)
	sid := dialects.LegacySessionID(d.keys, refresh)
	exp, remember := d.legacy.Terms(a.Expires, now, d.cfg.RefreshTTL)
	seat := d.seatKey(u.ID, 0)
	if d.cfg.SingleDevice {
		// A newer login on another device holds the seat: in the legacy
		// service it would have kicked this one.
		if err := d.displaced(ctx, seat, sid, device, now); err != nil {
			return err
		}
	}
	_, created, err := dialects.AdoptLegacy(ctx, d.store, d.legacy, dialects.Adoption{Session: tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: strconv.FormatInt(u.ID, 10), Device: device,
		Attrs:     map[string]string{"mobile": u.Mobile, "company_type": strconv.Itoa(int(u.CompanyType)), "product_type": "0"},
		CreatedAt: now, LastSeen: now, ExpiresAt: exp, RefreshHash: dialects.HashToken(refresh),
	}, Remember: remember}, now)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return refuse(CodeLoginExpired, dialects.ReasonRevoked, "登录已失效,请重新登录", err)
	}
	if err != nil {
		return err
	}
	if created && d.cfg.SingleDevice {
		if _, err := d.store.ClaimSeat(ctx, tokenstore.SeatClaim{Key: seat, SessionID: sid, Device: device, ExpiresAt: exp, Now: now}); err != nil {
			return err
		}
	}
	access, accessExp, err := d.issueAccess(u.ID, sid, device, u.Mobile, u.CompanyType, 0, now)
	if err != nil {
		return err
	}
	d.metrics.Refreshed(d.name, "rotated")
	d.metrics.Issued(d.name, "refresh")
	dialects.NoteSubject(r, strconv.FormatInt(u.ID, 10))
	writeOK(w, Token{Expire: d.formatTime(accessExp), Value: access})
	return nil
}

// displaced refuses a legacy exchange whose seat a live session on
// another device holds.
func (d *Dialect) displaced(ctx context.Context, seat, sid, device string, now time.Time) error {
	st, err := d.store.SeatState(ctx, seat, device, now)
	if err != nil {
		return err
	}
	h := st.Holder
	if h.SessionID == "" || h.SessionID == sid || h.Device == device {
		return nil
	}
	switch err := d.store.CheckSession(ctx, h.SessionID, now); {
	case err == nil:
		return refuse(CodeKicked, dialects.ReasonRevoked, "账号已在其他设备登录", nil)
	case errors.Is(err, tokenstore.ErrNotFound):
		return nil
	default:
		return err
	}
}

// LoginStatus is the seed's CheckLoginStatusResp.
type LoginStatus struct {
	IsLogin       bool    `json:"isLogin"`
	LastLoginTime *string `json:"lastLoginTime"`
}

// loginStatus is GET /wx/pc/check-login-status/{deviceNumber} (or
// ?deviceNumber=): whether that device of the token's user still holds the
// session, and if a login elsewhere displaced it, when. A kicked client
// asks with its old token, so a genuine token is enough here even when
// its session is gone.
func (d *Dialect) loginStatus(w http.ResponseWriter, r *http.Request) error {
	if err := errors.Join(dialects.Single(r, d.cfg.TokenHeader), dialects.SingleQuery(r, "deviceNumber")); err != nil {
		return err
	}
	device := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, d.cfg.LoginStatusPath), "/")
	if device == "" {
		device = r.URL.Query().Get("deviceNumber")
	}
	if device == "" || strings.Contains(device, "/") {
		return &dialects.RequestError{Msg: "deviceNumber is required: /check-login-status/{deviceNumber}"}
	}
	token := d.bearer(r)
	if token == "" {
		return refuse(CodeTokenMissing, dialects.ReasonMissing, "缺少 token", nil)
	}
	c, err := d.verifyAccess(token)
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) {
		return refuse(CodeTokenInvalid, dialects.ReasonMalformed, "token 无效", err)
	}
	ctx, now := r.Context(), d.now()
	st, err := d.store.SeatState(ctx, d.seatKey(c.UID, int32(c.ProductType)), device, now)
	if err != nil {
		return err
	}
	holder := st.Holder
	if !d.cfg.SingleDevice {
		holder = tokenstore.Seat{SessionID: c.SessionID, Device: c.Device}
	}
	if holder.SessionID != "" && holder.Device == device {
		err := d.store.CheckSession(ctx, holder.SessionID, now)
		if err == nil {
			writeOK(w, LoginStatus{IsLogin: true})
			return nil
		}
		if !errors.Is(err, tokenstore.ErrNotFound) {
			return err
		}
	}
	status := LoginStatus{}
	if !st.DisplacedAt.IsZero() {
		t := d.formatTime(st.DisplacedAt)
		status.LastLoginTime = &t
	}
	writeOK(w, status)
	return nil
}
