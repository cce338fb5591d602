package appkey

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/tokenstore"
)

// LoginType is the only login type the seed knows.
const LoginType = "APP_KEY"

// Token is the seed's Token object.
type Token struct {
	AccessToken  string        `json:"accessToken"`
	ExpiresTime  string        `json:"expiresTime"`
	LoginUser    loginUserJSON `json:"loginUser"`
	RefreshToken string        `json:"refreshToken"`
}

// loginUserJSON is LoginUser on the wire, with the fixed loginType.
type loginUserJSON struct {
	ID            int64       `json:"id"`
	LoginType     string      `json:"loginType"`
	LoginUserType string      `json:"loginUserType"`
	OrgProduct    OrgProduct  `json:"orgProduct"`
	UserOrg       UserOrg     `json:"userOrg"`
	UserProduct   UserProduct `json:"userProduct"`
}

type loginRequest struct {
	AppID     *string `json:"appId"`
	AppKey    *string `json:"appKey"`
	AppSecret *string `json:"appSecret"`
	LoginType *string `json:"loginType"`
}

const badCredentials = "Bad credentials"

// login is POST /api/base/token/login, exactly as the seed. An unknown
// appId, a wrong appKey and a wrong appSecret answer the same 401 after
// the same work: one hash check (against a dummy hash for unknown apps)
// and constant-time comparisons.
func (d *Dialect) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		d.m.logins.WithLabelValues("bad_request").Inc()
		return err
	}
	var missing []string
	for name, v := range map[string]*string{"appId": req.AppID, "appKey": req.AppKey, "appSecret": req.AppSecret, "loginType": req.LoginType} {
		if v == nil || *v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		d.m.logins.WithLabelValues("bad_request").Inc()
		slices.Sort(missing)
		return &dialects.RequestError{Msg: "Required: " + strings.Join(missing, ", ")}
	}
	if *req.LoginType != LoginType {
		d.m.logins.WithLabelValues("bad_request").Inc()
		return fail(http.StatusBadRequest, "loginType must be APP_KEY", nil)
	}
	dialects.NoteSubject(r, *req.AppID)
	ctx, now := r.Context(), d.now()
	// Failures are counted per appId and per client IP: each attempt is
	// counted first and taken back if it succeeds, so concurrent guesses
	// cannot slip past the limit.
	counted, err := dialects.CountAttempt(ctx, d.store, d.log, now,
		dialects.Limit{Key: d.keys.Key("fail-app", *req.AppID), Window: d.cfg.FailureWindow, Max: d.cfg.FailureLimit},
		dialects.Limit{Key: d.keys.Key("fail-ip", dialects.ClientIP(r)), Window: d.cfg.FailureWindow, Max: d.cfg.FailureLimit})
	if errors.Is(err, dialects.ErrRateLimited) {
		d.m.logins.WithLabelValues("rate_limited").Inc()
	}
	if err != nil {
		return err
	}
	apps := d.apps.Load()
	app, known, err := apps.lookup(*req.AppID)
	if err != nil {
		counted.Release(ctx, d.log)
		return err
	}
	hash := app.AppSecretHash
	if !known {
		hash = apps.dummyHash
	}
	secretOK, err := d.verify(ctx, hash, *req.AppSecret)
	if err != nil {
		counted.Release(ctx, d.log)
		return err
	}
	keyOK := subtle.ConstantTimeCompare([]byte(app.AppKey), []byte(*req.AppKey)) == 1
	if !known || !keyOK || !secretOK {
		d.m.logins.WithLabelValues("bad_credentials").Inc()
		return fail(http.StatusUnauthorized, badCredentials, dialects.ErrBadCredentials)
	}
	counted.Release(ctx, d.log)
	if !d.usable(app) {
		d.m.logins.WithLabelValues("disabled").Inc()
		return fail(http.StatusForbidden, "App is disabled", dialects.ErrDisabled)
	}
	sid := dialects.NewID()
	refresh := sid + "." + dialects.NewID() + dialects.NewID()
	refreshExp := now.Add(d.cfg.RefreshTTL)
	if err := d.store.CreateSession(ctx, tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: app.AppID,
		CreatedAt: now, LastSeen: now, ExpiresAt: refreshExp, RefreshHash: dialects.HashToken(refresh),
	}, now); err != nil {
		return err
	}
	tok, err := d.token(app, sid, refresh, now)
	if err != nil {
		return err
	}
	d.m.logins.WithLabelValues("ok").Inc()
	d.metrics.Issued(d.name, "login")
	dialects.WriteJSON(w, http.StatusOK, tok)
	return nil
}

// token issues the access token and renders the Token object.
func (d *Dialect) token(app App, sid, refresh string, now time.Time) (Token, error) {
	now = now.Truncate(time.Second)
	exp := now.Add(d.cfg.AccessTTL)
	lu := app.LoginUser
	at, err := d.access.Sign(jwt.NewBuilder().
		Subject(app.AppID).IssuedAt(now).NotBefore(now).Expiration(exp).
		Claim("sid", sid).Claim("app_id", app.AppID).Claim("uid", lu.ID))
	if err != nil {
		return Token{}, err
	}
	return Token{
		AccessToken: at,
		ExpiresTime: exp.In(d.loc).Format(d.cfg.TimeLayout),
		LoginUser: loginUserJSON{
			ID: lu.ID, LoginType: LoginType, LoginUserType: lu.LoginUserType,
			OrgProduct: lu.OrgProduct, UserOrg: lu.UserOrg, UserProduct: lu.UserProduct,
		},
		RefreshToken: refresh,
	}, nil
}

// refresh is POST /api/base/token/refresh?refreshToken=...: the same Token
// with a rotated refresh token. A used, expired or revoked one is a 401.
func (d *Dialect) refresh(w http.ResponseWriter, r *http.Request) error {
	if err := dialects.SingleQuery(r, "refreshToken"); err != nil {
		return err
	}
	presented := r.URL.Query().Get("refreshToken")
	if presented == "" {
		return &dialects.RequestError{Msg: "Required request parameter 'refreshToken' is not present"}
	}
	ctx, now := r.Context(), d.now()
	sid, _, ok := strings.Cut(presented, ".")
	var sess tokenstore.Session
	err := tokenstore.ErrNotFound
	if ok && sid != "" {
		sess, err = d.store.Session(ctx, sid, now)
	}
	if errors.Is(err, tokenstore.ErrNotFound) && d.legacy != nil {
		// Not one of the gateway's: perhaps the legacy service's.
		return d.exchangeLegacy(w, r, presented, now)
	}
	if !ok || sid == "" {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(http.StatusUnauthorized, dialects.ReasonMalformed, "Invalid refresh token", nil)
	}
	if errors.Is(err, tokenstore.ErrNotFound) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Invalid refresh token", err)
	}
	if err != nil {
		return err
	}
	app, err := d.liveApp(sess.Subject)
	if err != nil {
		return err
	}
	return d.rotate(w, r, app, sid, presented, nil, now)
}

// liveApp is the app of a session being refreshed, or, when it is gone or
// disabled, the refusal.
func (d *Dialect) liveApp(appID string) (App, error) {
	app, known, err := d.apps.Load().lookup(appID)
	if err != nil {
		return App{}, err
	}
	if !known {
		d.metrics.Refreshed(d.name, "revoked")
		return App{}, refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Invalid refresh token", nil)
	}
	if !d.usable(app) {
		d.metrics.Refreshed(d.name, "revoked")
		return App{}, refuse(http.StatusForbidden, dialects.ReasonRevoked, "App is disabled", nil)
	}
	return app, nil
}

// exchangeLegacy answers a refresh with a token the gateway does not know
// by asking the legacy service: a genuine one of a live app becomes a
// gateway session (dialects.ExchangeLegacy) and is answered as a refresh.
func (d *Dialect) exchangeLegacy(w http.ResponseWriter, r *http.Request, presented string, now time.Time) error {
	a, err := d.legacy.Check(r.Context(), presented)
	if errors.Is(err, dialects.ErrLegacyRefused) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Invalid refresh token", err)
	}
	if err != nil {
		return err
	}
	app, err := d.liveApp(a.Subject)
	if err != nil {
		d.legacy.Count(dialects.LegacyRefresh, "refused")
		return err
	}
	sid := dialects.LegacySessionID(d.keys, presented)
	ends, remember := d.legacy.Terms(a.Expires, now, d.cfg.RefreshTTL)
	return d.rotate(w, r, app, sid, presented, &dialects.Adoption{Session: tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: app.AppID, CreatedAt: now, LastSeen: now,
		ExpiresAt: ends, RefreshHash: dialects.HashToken(presented),
	}, Remember: remember}, now)
}

// rotate answers a refresh of session sid with a new Token and a rotated
// refresh token; adopt, when set, is the session a legacy token becomes
// first.
func (d *Dialect) rotate(w http.ResponseWriter, r *http.Request, app App, sid, presented string, adopt *dialects.Adoption, now time.Time) error {
	ctx := r.Context()
	next := sid + "." + dialects.NewID() + dialects.NewID()
	tok, err := d.token(app, sid, next, now)
	if err != nil {
		return err
	}
	rotation := dialects.Rotation[Token]{
		Dialect: d.name, SessionID: sid, Presented: presented, Next: tok, NextRefresh: next,
		NextExpiresAt: now.Add(d.cfg.RefreshTTL), Grace: d.cfg.RefreshGrace, Now: now,
		Renew: func(earlier Token) (Token, error) {
			if _, err := d.access.Verify(earlier.AccessToken); !errors.Is(err, jwtkit.ErrExpired) {
				return earlier, err
			}
			return d.token(app, sid, earlier.RefreshToken, now)
		},
	}
	if adopt != nil {
		tok, err = dialects.ExchangeLegacy(ctx, d.store, d.legacy, *adopt, rotation)
	} else {
		tok, err = dialects.RotateRefresh(ctx, d.store, d.metrics, rotation)
	}
	switch {
	case errors.Is(err, tokenstore.ErrReused):
		d.log.WarnContext(ctx, "refresh token reused after rotation; session ended", "app_id", app.AppID)
		return refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Refresh token already used", err)
	case errors.Is(err, tokenstore.ErrNotFound):
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Invalid refresh token", err)
	case err != nil:
		return err
	}
	dialects.NoteSubject(r, app.AppID)
	dialects.WriteJSON(w, http.StatusOK, tok)
	return nil
}

// Check implements dialects.Dialect: Authenticate without side effects.
func (d *Dialect) Check(r *http.Request) (dialects.Identity, error) {
	return d.Authenticate(dialects.ForCheck(r))
}

// Authenticate implements dialects.Dialect: a Bearer access token of a
// live session of an app that is still enabled.
func (d *Dialect) Authenticate(r *http.Request) (dialects.Identity, error) {
	if err := dialects.Single(r, d.cfg.TokenHeader); err != nil {
		return dialects.Identity{}, err
	}
	token, ok := dialects.BearerToken(r, d.cfg.TokenHeader)
	if !ok || token == "" {
		return dialects.Identity{}, dialects.NotMine(refuse(http.StatusUnauthorized, dialects.ReasonMissing, "Full authentication is required to access this resource", nil))
	}
	tok, err := d.access.Verify(token)
	switch {
	case errors.Is(err, jwtkit.ErrExpired):
		return dialects.Identity{}, refuse(http.StatusUnauthorized, dialects.ReasonExpired, "Access token expired", err)
	case errors.Is(err, jwtkit.ErrSignature):
		return dialects.Identity{}, d.legacy.Unverified(refuse(http.StatusUnauthorized, dialects.ReasonSignature, "Invalid access token", err),
			refuse(http.StatusUnauthorized, dialects.ReasonExpired, "Access token expired", err))
	case err != nil:
		return dialects.Identity{}, d.legacy.Unverified(refuse(http.StatusUnauthorized, dialects.ReasonMalformed, "Invalid access token", err),
			refuse(http.StatusUnauthorized, dialects.ReasonExpired, "Access token expired", err))
	}
	sid, ok1 := jwtkit.String(tok, "sid")
	appID, ok2 := jwtkit.String(tok, "app_id")
	if !ok1 || !ok2 {
		return dialects.Identity{}, refuse(http.StatusUnauthorized, dialects.ReasonMalformed, "Invalid access token", nil)
	}
	app, known, err := d.apps.Load().lookup(appID)
	if err != nil {
		return dialects.Identity{}, err
	}
	if !known {
		return dialects.Identity{}, refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Invalid access token", nil)
	}
	if !d.usable(app) {
		return dialects.Identity{}, refuse(http.StatusForbidden, dialects.ReasonRevoked, "App is disabled", nil)
	}
	if err := d.store.CheckSession(r.Context(), sid, d.now()); err != nil {
		if errors.Is(err, tokenstore.ErrNotFound) {
			return dialects.Identity{}, refuse(http.StatusUnauthorized, dialects.ReasonRevoked, "Access token revoked", err)
		}
		return dialects.Identity{}, err
	}
	lu := app.LoginUser
	product := lu.UserProduct.ProductID
	if product == 0 {
		product = lu.OrgProduct.ProductID
	}
	return dialects.Identity{
		Dialect: d.name, Subject: strconv.FormatInt(lu.ID, 10), SessionID: sid,
		Attrs: map[string]string{
			"app_id": app.AppID, "org_id": strconv.FormatInt(lu.UserOrg.OrgID, 10),
			"product_id": strconv.FormatInt(product, 10), "user_type": lu.LoginUserType,
		},
	}, nil
}
