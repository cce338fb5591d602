package mmm

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/dialects"
)

// Wire codes. The seed fixes "00000", "10024" and "10026"; the rest are
// this gateway's, documented in the README. Auth and request codes answer
// with HTTP 200, as the legacy service did: its clients read the code in
// the body and treat other statuses as network failures.
const (
	CodeOK               = "00000"
	CodeMalformedRequest = "10001"
	CodeBodyTooLarge     = "10002"
	CodeBadCredentials   = "10003"
	CodeCompanyNotMember = "10004"
	CodeMethodNotAllowed = "10005"
	CodeAccessMissing    = "10011"
	CodeAccessMalformed  = "10012"
	CodeAccessSignature  = "10013"
	CodeRevoked          = "10014"
	CodeRefreshMissing   = "10015"
	CodeRefreshInvalid   = "10016"
	CodeRefreshReused    = "10017"
	CodeRefreshExpired   = "10024"
	CodeRefreshed        = "10026"
	CodeRateLimited      = "10029"
	CodeInternal         = "50000"
	CodeUpstreamDown     = "50200"
	CodeStoreDown        = "50300"
	CodeUpstreamTimeout  = "50400"
)

// envelope is the seed's common response: code and msg strings, data any.
type envelope struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

// wireError is an error with its code, message and HTTP status.
type wireError struct {
	code   string
	msg    string
	status int
	err    error
}

func (e *wireError) Error() string {
	if e.err != nil {
		return "mmm " + e.code + ": " + e.msg + ": " + e.err.Error()
	}
	return "mmm " + e.code + ": " + e.msg
}

func (e *wireError) Unwrap() error { return e.err }

func refuse(code, reason, msg string, err error) error {
	return &dialects.AuthError{Reason: reason, Err: &wireError{code: code, msg: msg, status: http.StatusOK, err: err}}
}

// refreshedError is the 10026 answer: the access token expired, the
// refresh token was good, and data carries the fresh pair.
type refreshedError struct{ pair Pair }

func (e *refreshedError) Error() string { return "mmm 10026: access token expired; refreshed" }

// toWire maps any error to its wire form; the one place codes are chosen.
func toWire(err error) (code, msg string, status int, data any) {
	var we *wireError
	var re *refreshedError
	var reqErr *dialects.RequestError
	switch {
	case errors.As(err, &re):
		return CodeRefreshed, "access_token 已过期,已刷新 token", http.StatusOK, re.pair
	case errors.As(err, &we):
		return we.code, we.msg, we.status, struct{}{}
	case errors.As(err, &reqErr):
		return CodeMalformedRequest, "请求格式错误: " + reqErr.Msg, http.StatusBadRequest, struct{}{}
	case errors.Is(err, dialects.ErrBodyTooLarge):
		return CodeBodyTooLarge, "请求体过大", http.StatusRequestEntityTooLarge, struct{}{}
	case errors.Is(err, dialects.ErrMalformedRequest):
		return CodeMalformedRequest, "请求格式错误", http.StatusBadRequest, struct{}{}
	case errors.Is(err, dialects.ErrMethodNotAllowed):
		return CodeMethodNotAllowed, "请求方式不支持", http.StatusMethodNotAllowed, struct{}{}
	case errors.Is(err, dialects.ErrRateLimited):
		return CodeRateLimited, "请求过于频繁,请稍后再试", http.StatusTooManyRequests, struct{}{}
	case errors.Is(err, dialects.ErrStoreUnavailable):
		return CodeStoreDown, "服务暂不可用", http.StatusServiceUnavailable, struct{}{}
	case errors.Is(err, dialects.ErrUpstreamTimeout):
		return CodeUpstreamTimeout, "上游服务超时", http.StatusGatewayTimeout, struct{}{}
	case errors.Is(err, dialects.ErrUpstreamUnavailable):
		return CodeUpstreamDown, "上游服务不可用", http.StatusBadGateway, struct{}{}
	default:
		return CodeInternal, "服务内部错误", http.StatusInternalServerError, struct{}{}
	}
}

// WriteError implements dialects.Dialect.
func (d *Dialect) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, status, data := toWire(err)
	dialects.SetRetryAfter(w, err)
	if status >= 500 {
		d.log.ErrorContext(r.Context(), "mmm request failed", "code", code, "err", err)
	}
	dialects.WriteJSON(w, status, envelope{Code: code, Msg: msg, Data: data})
}

func writeOK(w http.ResponseWriter, data any) {
	dialects.WriteJSON(w, http.StatusOK, envelope{Code: CodeOK, Msg: "成功", Data: data})
}
