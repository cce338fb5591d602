package mobile

import (
	"errors"
	"net/http"
	"time"

	"github.com/authgate/authgate/dialects"
)

// Wire codes, documented in the README. The seed fixes only 0 (success)
// and the int type; token problems answer HTTP 401 as the Spring service
// behind the document did, request problems 400, business refusals (a
// wrong code) 200 with their code.
const (
	CodeOK               = 0
	CodeMalformedRequest = 1001
	CodeBodyTooLarge     = 1002
	CodeMethodNotAllowed = 1003
	CodeBadMobile        = 1004
	CodeBadCode          = 1101
	CodeCodeExpired      = 1102
	CodeTooManyAttempts  = 1103
	CodeRateLimited      = 1104
	CodeSendFailed       = 1105
	CodeNotRegistered    = 1106
	CodeTokenMissing     = 1201
	CodeTokenInvalid     = 1202
	CodeTokenExpired     = 1203
	CodeKicked           = 1204
	CodeRefreshInvalid   = 1205
	CodeLoginExpired     = 1206
	CodeInternal         = 5000
	CodeUpstreamDown     = 5002
	CodeStoreDown        = 5003
	CodeUpstreamTimeout  = 5004
)

// envelope is the seed's response: code int, msg string, data any.
type envelope struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

// wireError is an error with its code, message and HTTP status.
type wireError struct {
	code   int
	msg    string
	status int
	err    error
}

func (e *wireError) Error() string {
	if e.err != nil {
		return "mobile: " + e.msg + ": " + e.err.Error()
	}
	return "mobile: " + e.msg
}

func (e *wireError) Unwrap() error { return e.err }

func fail(code, status int, msg string, err error) error {
	return &wireError{code: code, msg: msg, status: status, err: err}
}

// refuse is a token refusal: HTTP 401, counted by reason.
func refuse(code int, reason, msg string, err error) error {
	return &dialects.AuthError{Reason: reason, Err: &wireError{code: code, msg: msg, status: http.StatusUnauthorized, err: err}}
}

// toWire maps any error to its wire form; the one place codes are chosen.
func toWire(err error) (code int, msg string, status int, data any) {
	var we *wireError
	var rl *dialects.RateLimited
	var reqErr *dialects.RequestError
	switch {
	case errors.As(err, &rl):
		return CodeRateLimited, rl.Msg, http.StatusTooManyRequests, map[string]int64{"retryAfter": int64((rl.Wait + time.Second - 1) / time.Second)}
	case errors.As(err, &we):
		return we.code, we.msg, we.status, nil
	case errors.As(err, &reqErr):
		return CodeMalformedRequest, "请求格式错误: " + reqErr.Msg, http.StatusBadRequest, nil
	case errors.Is(err, dialects.ErrBodyTooLarge):
		return CodeBodyTooLarge, "请求体过大", http.StatusRequestEntityTooLarge, nil
	case errors.Is(err, dialects.ErrMalformedRequest):
		return CodeMalformedRequest, "请求格式错误", http.StatusBadRequest, nil
	case errors.Is(err, dialects.ErrMethodNotAllowed):
		return CodeMethodNotAllowed, "请求方式不支持", http.StatusMethodNotAllowed, nil
	case errors.Is(err, dialects.ErrRateLimited):
		return CodeRateLimited, "请求过于频繁", http.StatusTooManyRequests, nil
	case errors.Is(err, dialects.ErrStoreUnavailable):
		return CodeStoreDown, "服务暂不可用", http.StatusServiceUnavailable, nil
	case errors.Is(err, dialects.ErrUpstreamTimeout):
		return CodeUpstreamTimeout, "上游服务超时", http.StatusGatewayTimeout, nil
	case errors.Is(err, dialects.ErrUpstreamUnavailable):
		return CodeUpstreamDown, "上游服务不可用", http.StatusBadGateway, nil
	default:
		return CodeInternal, "服务内部错误", http.StatusInternalServerError, nil
	}
}

// WriteError implements dialects.Dialect.
func (d *Dialect) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, status, data := toWire(err)
	dialects.SetRetryAfter(w, err)
	if status >= 500 {
		d.log.ErrorContext(r.Context(), "mobile request failed", "code", code, "err", err)
	}
	dialects.WriteJSON(w, status, envelope{Code: code, Msg: msg, Data: data})
}

func writeOK(w http.ResponseWriter, data any) {
	dialects.WriteJSON(w, http.StatusOK, envelope{Code: CodeOK, Msg: "success", Data: data})
}
