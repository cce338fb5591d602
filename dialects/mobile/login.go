package mobile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
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
func (d *Dialect) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if missing := req.missing(); missing != "" {
		return &dialects.RequestError{Msg: "required: " + missing}
	}
	mobile := *req.Mobile
	dialects.NoteSubject(r, mobile)
	if err := d.checkMobile(mobile); err != nil {
		return err
	}
	if err := dialects.Single(r, d.cfg.DeviceHeader); err != nil {
		return err
	}
	device := r.Header.Get(d.cfg.DeviceHeader)
	if device == "" && req.DeviceNumber != nil {
		device = *req.DeviceNumber
	}
	if len(device) > 128 || strings.ContainsFunc(device, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return &dialects.RequestError{Msg: "device number must be at most 128 printable characters"}
	}
	ctx, now := r.Context(), d.now()
	res, err := d.store.VerifyCode(ctx, d.codeStoreKey(mobile), d.codeHash(mobile, *req.ValidateNo), now)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		d.m.verifyFailures.WithLabelValues("expired").Inc()
		return fail(CodeCodeExpired, http.StatusOK, "验证码已过期或未发送,请重新获取", dialects.ErrBadCredentials)
	case err != nil:
		return err
	case res == tokenstore.CodeMismatch:
		d.m.verifyFailures.WithLabelValues("mismatch").Inc()
		return fail(CodeBadCode, http.StatusOK, "验证码错误", dialects.ErrBadCredentials)
	case res == tokenstore.CodeExhausted:
		d.m.verifyFailures.WithLabelValues("exhausted").Inc()
		dialects.Audit(ctx, d.log, "lockout", "", dialects.ClientIP(r), "locked", slog.String("reason", "sms code attempts used up"))
		return fail(CodeTooManyAttempts, http.StatusOK, "验证码错误次数过多,请重新获取", dialects.ErrLocked)
	}
	info, err := d.resolveUser(ctx, mobile, req, now)
	if err != nil {
		d.keepCode(ctx, mobile, *req.ValidateNo, now, err)
		return err
	}
	resp, err := d.startSession(ctx, info, device, *req.ProductType, dialects.ClientIP(r), now)
	if err != nil {
		d.keepCode(ctx, mobile, *req.ValidateNo, now, err)
		return err
	}
	d.metrics.Issued(d.name, "login")
	dialects.NoteSubject(r, strconv.FormatInt(info.ID, 10))
	writeOK(w, resp)
	return nil
}

// keepCode gives a right code back after a login that failed on the
// gateway's side (the user directory or the store did not answer: 503,
// 504): the user did nothing wrong, so the code is not spent — it is
// stored again for a code_ttl from now with its attempts — and the resend
// interval is released, so a new code may be asked for at once. A
// refusal (4xx) spends it as before. Best effort: a store that does not
// answer keeps neither, and the failure is logged.
func (d *Dialect) keepCode(ctx context.Context, mobile, code string, now time.Time, cause error) {
	if c := dialects.Classify(cause); c != dialects.ClassStoreDown && c != dialects.ClassUpstreamTimeout {
		return
	}
	err := d.store.PutCode(ctx, d.codeStoreKey(mobile), tokenstore.Code{
		Hash: d.codeHash(mobile, code), MaxAttempts: d.cfg.SMS.MaxAttempts, ExpiresAt: now.Add(d.cfg.SMS.CodeTTL),
	}, now)
	if err == nil {
		err = d.store.Release(ctx, d.keys.Key("sms-gap", mobile), now)
	}
	if err != nil {
		d.log.WarnContext(ctx, "could not give back the SMS code of a login that failed on the server's side", "err", err)
	}
}

// resolveUser finds the number's user: the user directory first; an
// unknown number is registered there when the directory can register
// (identity.Registrar: the legacy users table), else among the store's
// registered accounts; each when registration is allowed.
func (d *Dialect) resolveUser(ctx context.Context, mobile string, req loginRequest, now time.Time) (UserInfo, error) {
	if d.users != nil {
		u, err := d.users.ByMobile(ctx, mobile)
		if err == nil {
			return userInfo(u, mobile, *req.CompanyType), nil
		}
		if !errors.Is(err, identity.ErrNotFound) {
			return UserInfo{}, err
		}
		if reg, ok := d.users.(identity.Registrar); ok {
			if !d.cfg.AutoRegister {
				return UserInfo{}, fail(CodeNotRegistered, http.StatusOK, "该手机号未注册", dialects.ErrBadCredentials)
			}
			u, created, err := reg.RegisterMobile(ctx, identity.Registration{Mobile: mobile, Source: *req.Source, Name: maskMobile(mobile)})
			if err != nil {
				return UserInfo{}, err
			}
			if created {
				d.m.registrations.Inc()
				d.log.InfoContext(ctx, "registered a new mobile user in the user directory", "user_id", u.ID, "source", *req.Source)
			}
			if u.NickName == "" {
				u.NickName = maskMobile(mobile) // as a number registered in the store starts
			}
			return userInfo(u, mobile, *req.CompanyType), nil
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
			return UserInfo{}, fail(CodeNotRegistered, http.StatusOK, "该手机号未注册", dialects.ErrBadCredentials)
		}
	}
	if err != nil {
		return UserInfo{}, err
	}
	ct, _ := strconv.Atoi(acct.Attrs["companyType"])
	return UserInfo{CompanyType: int32(ct), ID: acct.ID, Mobile: mobile, NickName: maskMobile(mobile), UserName: mobile}, nil
}

// knownUser finds the user of a number without registering it: the user
// directory, then the store's registered accounts; identity.ErrNotFound
// when neither knows it.
func (d *Dialect) knownUser(ctx context.Context, mobile string) (UserInfo, error) {
	if d.users != nil {
		u, err := d.users.ByMobile(ctx, mobile)
		if err == nil {
			return userInfo(u, mobile, 0), nil
		}
		if !errors.Is(err, identity.ErrNotFound) {
			return UserInfo{}, err
		}
	}
	acct, err := d.store.Account(ctx, "mobile:"+mobile)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return UserInfo{}, fmt.Errorf("mobile: %w", identity.ErrNotFound)
	}
	if err != nil {
		return UserInfo{}, err
	}
	ct, _ := strconv.Atoi(acct.Attrs["companyType"])
	return UserInfo{CompanyType: int32(ct), ID: acct.ID, Mobile: mobile}, nil
}

// userInfo is the seed's userInfo of a directory user.
func userInfo(u identity.User, mobile string, companyType int32) UserInfo {
	return UserInfo{AvatarURL: u.AvatarURL, CompanyType: companyType, ID: u.ID, Mobile: mobile,
		NickName: u.NickName, RealName: u.Name, UserName: u.Account}
}

// maskMobile is the nickname a registered number starts with: 138****8000.
func maskMobile(m string) string {
	if len(m) < 8 {
		return m
	}
	return m[:3] + "****" + m[len(m)-4:]
}

// seatKey names a user's single-device seat. It is "<instance>:<uid>"
// (and ":<product>"), as it has always been, not under the instance's
// Namespace: a seat outlives a gateway upgrade, and a lost one would tell
// every logged-in device isLogin=false.
func (d *Dialect) seatKey(uid int64, product int32) string {
	if d.cfg.KickScope == "user_product" {
		return fmt.Sprintf("%s:%d:%d", d.name, uid, product)
	}
	return fmt.Sprintf("%s:%d", d.name, uid)
}

// startSession creates the session, takes the device seat (kicking the
// holder before it) and issues the tokens.
func (d *Dialect) startSession(ctx context.Context, u UserInfo, device string, product int32, clientIP string, now time.Time) (LoginResponse, error) {
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
		return LoginResponse{}, err
	}
	if d.cfg.SingleDevice {
		prev, err := d.store.ClaimSeat(ctx, tokenstore.SeatClaim{Key: d.seatKey(u.ID, product), SessionID: sid, Device: device, ExpiresAt: refreshExp, Now: now})
		if err != nil {
			return LoginResponse{}, err
		}
		if prev.SessionID != "" && prev.SessionID != sid {
			if err := d.store.RevokeSession(ctx, prev.SessionID); err != nil {
				return LoginResponse{}, err
			}
			if prev.Device != device {
				d.m.kicks.Inc()
				dialects.Audit(ctx, d.log, "kick", strconv.FormatInt(u.ID, 10), clientIP, "ok",
					slog.String("device", device), slog.String("kicked_device", prev.Device))
			}
		}
	}
	return LoginResponse{
		AccessToken:  Token{Expire: d.formatTime(accessExp), Value: access},
		RefreshToken: Token{Expire: d.formatTime(refreshExp), Value: refresh},
		UserInfo:     u,
	}, nil
}
