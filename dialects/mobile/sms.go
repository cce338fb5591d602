package mobile

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/sms"
	"github.com/authgate/authgate/tokenstore"
)

// codeStoreKey is where a number's pending code lives in the store.
func (d *Dialect) codeStoreKey(mobile string) string { return d.keys.Key("sms", mobile) }

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
func (d *Dialect) sendCode(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Mobile == nil || *req.Mobile == "" {
		return &dialects.RequestError{Msg: "mobile is required"}
	}
	mobile := *req.Mobile
	if err := d.checkMobile(mobile); err != nil {
		return err
	}
	ctx, now := r.Context(), d.now()
	counted, err := dialects.CountAttempt(ctx, d.store, d.log, now,
		dialects.Limit{Key: d.keys.Key("sms-ip", dialects.ClientIP(r)), Window: d.cfg.SMS.IPWindow, Max: d.cfg.SMS.IPLimit, Msg: "该网络请求验证码过于频繁"},
		dialects.Limit{Key: d.keys.Key("sms-day", mobile), Window: 24 * time.Hour, Max: d.cfg.SMS.DailyLimit, Msg: "该手机号今日验证码次数已达上限"},
		dialects.Limit{Key: d.keys.Key("sms-gap", mobile), Window: d.cfg.SMS.ResendInterval, Max: 1, Msg: "验证码发送过于频繁,请稍后再试"},
	)
	if err != nil {
		return err
	}
	code := newCode()
	if err := d.store.PutCode(ctx, d.codeStoreKey(mobile), tokenstore.Code{
		Hash: d.codeHash(mobile, code), MaxAttempts: d.cfg.SMS.MaxAttempts, ExpiresAt: now.Add(d.cfg.SMS.CodeTTL),
	}, now); err != nil {
		counted.Release(ctx, d.log)
		return err
	}
	if err := d.sender.Send(ctx, sms.Message{Mobile: mobile, Code: code, Template: d.cfg.SMS.Template}); err != nil {
		// The stored code is left to expire: nobody received it, and a
		// new request replaces it.
		counted.Release(ctx, d.log)
		d.m.sendFailures.WithLabelValues(d.sender.Name()).Inc()
		return fail(CodeSendFailed, http.StatusBadGateway, "验证码发送失败,请稍后再试", err)
	}
	d.m.codesSent.WithLabelValues(d.sender.Name()).Inc()
	writeOK(w, map[string]int64{"expireIn": int64(d.cfg.SMS.CodeTTL / time.Second), "resendIn": int64(d.cfg.SMS.ResendInterval / time.Second)})
	return nil
}
