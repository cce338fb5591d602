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
	// CodeClientGone answers a request its client abandoned; nobody reads it.
	CodeClientGone = "49900"
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

// classCodes is this dialect's row for each of the shared error classes.
var classCodes = map[dialects.Class]wireError{
	dialects.ClassInternal:         {code: CodeInternal, msg: "服务内部错误"},
	dialects.ClassBadRequest:       {code: CodeMalformedRequest, msg: "请求格式错误"},
	dialects.ClassBodyTooLarge:     {code: CodeBodyTooLarge, msg: "请求体过大"},
	dialects.ClassMethodNotAllowed: {code: CodeMethodNotAllowed, msg: "请求方式不支持"},
	dialects.ClassRateLimited:      {code: CodeRateLimited, msg: "请求过于频繁,请稍后再试"},
	dialects.ClassStoreDown:        {code: CodeStoreDown, msg: "服务暂不可用"},
	dialects.ClassUpstreamTimeout:  {code: CodeUpstreamTimeout, msg: "上游服务超时"},
	dialects.ClassUpstreamDown:     {code: CodeUpstreamDown, msg: "上游服务不可用"},
	dialects.ClassClientGone:       {code: CodeClientGone, msg: "客户端已断开"},
}

// toWire maps any error to its wire form; the one place codes are chosen.
func toWire(err error) (code, msg string, status int, data any) {
	var we *wireError
	var re *refreshedError
	switch {
	case errors.As(err, &re):
		return CodeRefreshed, "access_token 已过期,已刷新 token", http.StatusOK, re.pair
	case errors.As(err, &we):
		return we.code, we.msg, we.status, struct{}{}
	}
	class := dialects.Classify(err)
	row := classCodes[class]
	if detail := dialects.Detail(err); detail != "" {
		row.msg += ": " + detail
	}
	return row.code, row.msg, class.Status(), struct{}{}
}

// WriteError implements dialects.Dialect.
func (d *Dialect) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, status, data := toWire(err)
	dialects.Note(r, err)
	dialects.SetRetryAfter(w, err)
	if status >= 500 {
		d.log.ErrorContext(r.Context(), "mmm request failed", "code", code, "err", err)
	}
	dialects.WriteJSON(w, status, envelope{Code: code, Msg: msg, Data: data})
}

func writeOK(w http.ResponseWriter, data any) {
	dialects.WriteJSON(w, http.StatusOK, envelope{Code: CodeOK, Msg: "成功", Data: data})
}
