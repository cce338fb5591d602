package mobile

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/sms"
	"github.com/authgate/authgate/tokenstore"
)

// Token is the seed's {expire, value} pair of a token and its expiry.
type Token struct {
	Expire string `json:"expire"`
	Value  string `json:"value"`
}

// UserInfo is the seed's userInfo, with its JSON types.
type UserInfo struct {
	AvatarURL   string `json:"avatarUrl"`
	CompanyType int32  `json:"companyType"`
	ID          int64  `json:"id"`
	Mobile      string `json:"mobile"`
	NickName    string `json:"nickName"`
	RealName    string `json:"realName"`
	UserName    string `json:"userName"`
}

// LoginResponse is the seed's MobileLoginResp.
type LoginResponse struct {
	AccessToken  Token    `json:"accessToken"`
	RefreshToken Token    `json:"refreshToken"`
	UserInfo     UserInfo `json:"userInfo"`
}

// codeStoreKey is where a number's pending code lives in the store.
func (d *Dialect) codeStoreKey(mobile string) string { return "sms:" + d.name + ":" + mobile }

// codeHash keys the code's hash with the dialect secret: six digits are
// too few to survive a leaked store as a plain hash.
func (d *Dialect) codeHash(mobile, code string) string {
	m := hmac.New(sha256.New, d.codeSecret)
	m.Write([]byte(mobile + ":" + code))
	return hex.EncodeToString(m.Sum(nil))
}

func newCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // crypto/rand does not fail
	return fmt.Sprintf("%06d", n.Int64())
}

func (d *Dialect) checkMobile(mobile string) error {
	if !d.mobile.MatchString(mobile) {
		return fail(CodeBadMobile, http.StatusBadRequest, "手机号格式不正确", nil)
	}
	return nil
}

type codeRequest struct {
	Mobile *string `json:"mobile"`
}

// sendCode is POST /auth/mobile/sms-code {"mobile"}: a fresh code, within
// the per-number interval, the per-number daily cap and the per-IP cap.
func (d *Dialect) sendCode(w http.ResponseWriter, r *http.Request) {
	var req codeRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		d.WriteError(w, r, err)
		return
	}
	if req.Mobile == nil || *req.Mobile == "" {
		d.WriteError(w, r, &dialects.RequestError{Msg: "mobile is required"})
		return
	}
	mobile := *req.Mobile
	if err := d.checkMobile(mobile); err != nil {
		d.WriteError(w, r, err)
		return
	}
	ctx, now := r.Context(), d.now()
	limits := []struct {
		key    string
		window time.Duration
		limit  int64
		msg    string
	}{
		{"sms-ip:" + d.name + ":" + dialects.ClientIP(r), d.cfg.SMS.IPWindow, d.cfg.SMS.IPLimit, "该网络请求验证码过于频繁"},
		{"sms-day:" + d.name + ":" + mobile, 24 * time.Hour, d.cfg.SMS.DailyLimit, "该手机号今日验证码次数已达上限"},
		{"sms-gap:" + d.name + ":" + mobile, d.cfg.SMS.ResendInterval, 1, "验证码发送过于频繁,请稍后再试"},
	}
	counted := make([]string, 0, len(limits))
	// undo takes back the counts of a send that did not happen.
	undo := func() {
		for _, k := range counted {
			if err := d.store.Release(ctx, k, now); err != nil {
				d.log.WarnContext(ctx, "release sms limit", "err", err)
			}
		}
	}
	for _, l := range limits {
		n, reset, err := d.store.Hit(ctx, l.key, l.window, now)
		if err != nil {
			undo()
			d.WriteError(w, r, dialects.StoreFailure(err))
			return
		}
		counted = append(counted, l.key)
		if n > l.limit {
			undo()
			d.WriteError(w, r, &dialects.RateLimited{Msg: l.msg, Wait: reset})
			return
		}
	}
	code := newCode()
	if err := d.store.PutCode(ctx, d.codeStoreKey(mobile), tokenstore.Code{
		Hash: d.codeHash(mobile, code), MaxAttempts: d.cfg.SMS.MaxAttempts, ExpiresAt: now.Add(d.cfg.SMS.CodeTTL),
	}, now); err != nil {
		undo()
		d.WriteError(w, r, dialects.StoreFailure(err))
		return
	}
	if err := d.sender.Send(ctx, sms.Message{Mobile: mobile, Code: code, Template: d.cfg.SMS.Template}); err != nil {
		// The stored code is left to expire: nobody received it, and a
		// new request replaces it.
		undo()
		d.m.sendFailures.WithLabelValues(d.sender.Name()).Inc()
		d.WriteError(w, r, fail(CodeSendFailed, http.StatusBadGateway, "验证码发送失败,请稍后再试", err))
		return
	}
	d.m.codesSent.WithLabelValues(d.sender.Name()).Inc()
	writeOK(w, map[string]int64{"expireIn": int64(d.cfg.SMS.CodeTTL / time.Second), "resendIn": int64(d.cfg.SMS.ResendInterval / time.Second)})
}

type loginRequest struct {
	CompanyType  *int32  `json:"companyType"`
	Mobile       *string `json:"mobile"`
	ProductType  *int32  `json:"productType"`
	Source       *string `json:"source"`
	ValidateNo   *string `json:"validateNo"`
	DeviceNumber *string `json:"deviceNumber"`
}

func (req loginRequest) missing() string {
	var m []string
	if req.CompanyType == nil {
		m = append(m, "companyType")
	}
	if req.Mobile == nil || *req.Mobile == "" {
		m = append(m, "mobile")
	}
	if req.ProductType == nil {
		m = append(m, "productType")
	}
	if req.Source == nil {
		m = append(m, "source")
	}
	if req.ValidateNo == nil || *req.ValidateNo == "" {
		m = append(m, "validateNo")
	}
	return strings.Join(m, ", ")
}

// login is POST /auth/mobile/login, exactly as the seed.
func (d *Dialect) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		d.WriteError(w, r, err)
		return
	}
	if missing := req.missing(); missing != "" {
		d.WriteError(w, r, &dialects.RequestError{Msg: "required: " + missing})
		return
	}
	mobile := *req.Mobile
	if err := d.checkMobile(mobile); err != nil {
		d.WriteError(w, r, err)
		return
	}
	device := r.Header.Get(d.cfg.DeviceHeader)
	if device == "" && req.DeviceNumber != nil {
		device = *req.DeviceNumber
	}
	if len(device) > 128 || strings.ContainsFunc(device, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		d.WriteError(w, r, &dialects.RequestError{Msg: "device number must be at most 128 printable characters"})
		return
	}
	ctx, now := r.Context(), d.now()
	res, err := d.store.VerifyCode(ctx, d.codeStoreKey(mobile), d.codeHash(mobile, *req.ValidateNo), now)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		d.m.verifyFailures.WithLabelValues("expired").Inc()
		d.WriteError(w, r, fail(CodeCodeExpired, http.StatusOK, "验证码已过期或未发送,请重新获取", nil))
		return
	case err != nil:
		d.WriteError(w, r, dialects.StoreFailure(err))
		return
	case res == tokenstore.CodeMismatch:
		d.m.verifyFailures.WithLabelValues("mismatch").Inc()
		d.WriteError(w, r, fail(CodeBadCode, http.StatusOK, "验证码错误", nil))
		return
	case res == tokenstore.CodeExhausted:
		d.m.verifyFailures.WithLabelValues("exhausted").Inc()
		d.WriteError(w, r, fail(CodeTooManyAttempts, http.StatusOK, "验证码错误次数过多,请重新获取", nil))
		return
	}
	info, err := d.resolveUser(ctx, mobile, req, now)
	if err != nil {
		d.WriteError(w, r, err)
		return
	}
	resp, err := d.startSession(ctx, info, device, *req.ProductType, now)
	if err != nil {
		d.WriteError(w, r, err)
		return
	}
	d.metrics.Issued(d.name, "login")
	writeOK(w, resp)
}

// resolveUser finds the number's user: the identity file first, then the
// store's registered accounts, registering it when allowed.
func (d *Dialect) resolveUser(ctx context.Context, mobile string, req loginRequest, now time.Time) (UserInfo, error) {
	if d.users != nil {
		if u, ok := d.users.ByMobile(mobile); ok {
			return UserInfo{AvatarURL: u.AvatarURL, CompanyType: *req.CompanyType, ID: u.ID, Mobile: mobile,
				NickName: u.NickName, RealName: u.Name, UserName: u.Account}, nil
		}
	}
	key := "mobile:" + mobile
	var acct tokenstore.Account
	var err error
	if d.cfg.AutoRegister {
		var created bool
		acct, created, err = d.store.EnsureAccount(ctx, key, map[string]string{
			"mobile": mobile, "source": *req.Source,
			"companyType": strconv.Itoa(int(*req.CompanyType)), "productType": strconv.Itoa(int(*req.ProductType)),
		}, d.cfg.IDBase, now)
		if created {
			d.m.registrations.Inc()
			d.log.InfoContext(ctx, "registered a new mobile user", "user_id", acct.ID, "source", *req.Source)
		}
	} else {
		acct, err = d.store.Account(ctx, key)
		if errors.Is(err, tokenstore.ErrNotFound) {
			return UserInfo{}, fail(CodeNotRegistered, http.StatusOK, "该手机号未注册", nil)
		}
	}
	if err != nil {
		return UserInfo{}, dialects.StoreFailure(err)
	}
	ct, _ := strconv.Atoi(acct.Attrs["companyType"])
	return UserInfo{CompanyType: int32(ct), ID: acct.ID, Mobile: mobile, NickName: maskMobile(mobile), UserName: mobile}, nil
}

// maskMobile is the nickname a registered number starts with: 138****8000.
func maskMobile(m string) string {
	if len(m) < 8 {
		return m
	}
	return m[:3] + "****" + m[len(m)-4:]
}

func (d *Dialect) seatKey(uid int64, product int32) string {
	if d.cfg.KickScope == "user_product" {
		return fmt.Sprintf("%s:%d:%d", d.name, uid, product)
	}
	return fmt.Sprintf("%s:%d", d.name, uid)
}

// startSession creates the session, takes the device seat (kicking the
// holder before it) and issues the tokens.
func (d *Dialect) startSession(ctx context.Context, u UserInfo, device string, product int32, now time.Time) (LoginResponse, error) {
	sid := dialects.NewID()
	access, accessExp, err := d.issueAccess(u.ID, sid, device, u.Mobile, u.CompanyType, product, now)
	if err != nil {
		return LoginResponse{}, err
	}
	refresh := dialects.NewID() + dialects.NewID()
	refreshExp := now.Add(d.cfg.RefreshTTL)
	err = d.store.CreateSession(ctx, tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: strconv.FormatInt(u.ID, 10), Device: device,
		Attrs: map[string]string{
			"mobile": u.Mobile, "company_type": strconv.Itoa(int(u.CompanyType)), "product_type": strconv.Itoa(int(product)),
		},
		CreatedAt: now, LastSeen: now, ExpiresAt: refreshExp, RefreshHash: dialects.HashToken(refresh),
	}, now)
	if err != nil {
		return LoginResponse{}, dialects.StoreFailure(err)
	}
	if d.cfg.SingleDevice {
		prev, err := d.store.ClaimSeat(ctx, tokenstore.SeatClaim{Key: d.seatKey(u.ID, product), SessionID: sid, Device: device, ExpiresAt: refreshExp, Now: now})
		if err != nil {
			return LoginResponse{}, dialects.StoreFailure(err)
		}
		if prev.SessionID != "" && prev.SessionID != sid {
			if err := d.store.RevokeSession(ctx, prev.SessionID); err != nil {
				return LoginResponse{}, dialects.StoreFailure(err)
			}
			if prev.Device != device {
				d.m.kicks.Inc()
			}
		}
	}
	return LoginResponse{
		AccessToken:  Token{Expire: d.formatTime(accessExp), Value: access},
		RefreshToken: Token{Expire: d.formatTime(refreshExp), Value: refresh},
		UserInfo:     u,
	}, nil
}

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
		return dialects.StoreFailure(err)
	}
	if !st.DisplacedAt.IsZero() {
		return refuse(CodeKicked, dialects.ReasonRevoked, "账号已在其他设备登录", nil)
	}
	return refuse(CodeLoginExpired, dialects.ReasonRevoked, "登录已失效,请重新登录", nil)
}

// Authenticate implements dialects.Dialect.
func (d *Dialect) Authenticate(r *http.Request) (dialects.Identity, error) {
	token := d.bearer(r)
	if token == "" {
		return dialects.Identity{}, refuse(CodeTokenMissing, dialects.ReasonMissing, "缺少 token", nil)
	}
	c, err := d.verifyAccess(token)
	switch {
	case errors.Is(err, jwtkit.ErrExpired):
		return dialects.Identity{}, refuse(CodeTokenExpired, dialects.ReasonExpired, "token 已过期", err)
	case errors.Is(err, jwtkit.ErrSignature):
		return dialects.Identity{}, refuse(CodeTokenInvalid, dialects.ReasonSignature, "token 无效", err)
	case err != nil:
		return dialects.Identity{}, refuse(CodeTokenInvalid, dialects.ReasonMalformed, "token 无效", err)
	}
	ctx, now := r.Context(), d.now()
	if _, err := d.store.Session(ctx, c.SessionID, now); err != nil {
		if errors.Is(err, tokenstore.ErrNotFound) {
			return dialects.Identity{}, d.gone(ctx, c, now)
		}
		return dialects.Identity{}, dialects.StoreFailure(err)
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
func (d *Dialect) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		d.WriteError(w, r, err)
		return
	}
	if req.AccessToken == nil || *req.AccessToken == "" || req.RefreshToken == nil || *req.RefreshToken == "" {
		d.WriteError(w, r, &dialects.RequestError{Msg: "accessToken and refreshToken are required"})
		return
	}
	c, err := d.verifyAccess(*req.AccessToken)
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) {
		d.metrics.Refreshed(d.name, "invalid")
		d.WriteError(w, r, refuse(CodeTokenInvalid, dialects.ReasonMalformed, "accessToken 无效", err))
		return
	}
	ctx, now := r.Context(), d.now()
	sess, err := d.store.Session(ctx, c.SessionID, now)
	if errors.Is(err, tokenstore.ErrNotFound) {
		d.metrics.Refreshed(d.name, "revoked")
		d.WriteError(w, r, d.gone(ctx, c, now))
		return
	}
	if err != nil {
		d.WriteError(w, r, dialects.StoreFailure(err))
		return
	}
	if subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(dialects.HashToken(*req.RefreshToken))) != 1 {
		d.metrics.Refreshed(d.name, "invalid")
		d.WriteError(w, r, refuse(CodeRefreshInvalid, dialects.ReasonMalformed, "refreshToken 无效或不属于该登录", nil))
		return
	}
	access, exp, err := d.issueAccess(c.UID, c.SessionID, c.Device, c.Mobile, int32(c.CompanyType), int32(c.ProductType), now)
	if err != nil {
		d.WriteError(w, r, err)
		return
	}
	d.metrics.Refreshed(d.name, "rotated")
	d.metrics.Issued(d.name, "refresh")
	writeOK(w, Token{Expire: d.formatTime(exp), Value: access})
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
func (d *Dialect) loginStatus(w http.ResponseWriter, r *http.Request) {
	device := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, d.cfg.LoginStatusPath), "/")
	if device == "" {
		device = r.URL.Query().Get("deviceNumber")
	}
	if device == "" || strings.Contains(device, "/") {
		d.WriteError(w, r, &dialects.RequestError{Msg: "deviceNumber is required: /check-login-status/{deviceNumber}"})
		return
	}
	token := d.bearer(r)
	if token == "" {
		d.WriteError(w, r, refuse(CodeTokenMissing, dialects.ReasonMissing, "缺少 token", nil))
		return
	}
	c, err := d.verifyAccess(token)
	if err != nil && !errors.Is(err, jwtkit.ErrExpired) {
		d.WriteError(w, r, refuse(CodeTokenInvalid, dialects.ReasonMalformed, "token 无效", err))
		return
	}
	ctx, now := r.Context(), d.now()
	st, err := d.store.SeatState(ctx, d.seatKey(c.UID, int32(c.ProductType)), device, now)
	if err != nil {
		d.WriteError(w, r, dialects.StoreFailure(err))
		return
	}
	holder := st.Holder
	if !d.cfg.SingleDevice {
		holder = tokenstore.Seat{SessionID: c.SessionID, Device: c.Device}
	}
	if holder.SessionID != "" && holder.Device == device {
		_, err := d.store.Session(ctx, holder.SessionID, now)
		if err == nil {
			writeOK(w, LoginStatus{IsLogin: true})
			return
		}
		if !errors.Is(err, tokenstore.ErrNotFound) {
			d.WriteError(w, r, dialects.StoreFailure(err))
			return
		}
	}
	status := LoginStatus{}
	if !st.DisplacedAt.IsZero() {
		t := d.formatTime(st.DisplacedAt)
		status.LastLoginTime = &t
	}
	writeOK(w, status)
}
