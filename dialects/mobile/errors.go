package mobile

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/authgate/authgate/dialects"
)

// Wire codes, documented in docs/dialects/mobile.md. The seed fixes only 0 (success)
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
	// CodeForbidden: a route's authorization rules refuse the caller
	// (HTTP 403).
	CodeForbidden       = 4030
	CodeInternal        = 5000
	CodeUpstreamDown    = 5002
	CodeStoreDown       = 5003
	CodeUpstreamTimeout = 5004
	// CodeClientGone answers a request its client abandoned; nobody reads it.
	CodeClientGone = 4990
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

// classCodes is this dialect's row for each of the shared error classes.
var classCodes = map[dialects.Class]wireError{
	dialects.ClassInternal:         {code: CodeInternal, msg: "服务内部错误"},
	dialects.ClassBadRequest:       {code: CodeMalformedRequest, msg: "请求格式错误"},
	dialects.ClassBodyTooLarge:     {code: CodeBodyTooLarge, msg: "请求体过大"},
	dialects.ClassMethodNotAllowed: {code: CodeMethodNotAllowed, msg: "请求方式不支持"},
	dialects.ClassRateLimited:      {code: CodeRateLimited, msg: "请求过于频繁"},
	dialects.ClassStoreDown:        {code: CodeStoreDown, msg: "服务暂不可用"},
	dialects.ClassUpstreamTimeout:  {code: CodeUpstreamTimeout, msg: "上游服务超时"},
	dialects.ClassUpstreamDown:     {code: CodeUpstreamDown, msg: "上游服务不可用"},
	dialects.ClassClientGone:       {code: CodeClientGone, msg: "客户端已断开"},
	dialects.ClassForbidden:        {code: CodeForbidden, msg: "无权访问"},
}

// toWire maps any error to its wire form; the one place codes are chosen.
// A rate limit with a message of its own also tells the client, in data,
// how many seconds to wait.
func toWire(err error) (code int, msg string, status int, data any) {
	var we *wireError
	var rl *dialects.RateLimited
	switch {
	case errors.As(err, &rl) && rl.Msg != "":
		return CodeRateLimited, rl.Msg, http.StatusTooManyRequests, map[string]int64{"retryAfter": int64((rl.Wait + time.Second - 1) / time.Second)}
	case errors.As(err, &we):
		return we.code, we.msg, we.status, nil
	}
	class := dialects.Classify(err)
	row := classCodes[class]
	if detail := dialects.Detail(err); detail != "" {
		row.msg += ": " + detail
	}
	return row.code, row.msg, class.Status(), nil
}

// Answer implements dialects.Answerer.
func (d *Dialect) Answer(_ *http.Request, err error) dialects.Answer {
	code, msg, status, data := toWire(err)
	return dialects.Answer{Status: status, Code: strconv.Itoa(code), Body: envelope{Code: code, Msg: msg, Data: data}}
}

func writeOK(w http.ResponseWriter, data any) {
	dialects.WriteJSON(w, http.StatusOK, envelope{Code: CodeOK, Msg: "success", Data: data})
}
