package mmm

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/authgate/authgate/dialects"
)

// Wire codes. The seed fixes "00000", "10024" and "10026"; the rest are
// this gateway's, documented in docs/dialects/mmm.md. Auth and request codes answer
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
	// CodeForbidden: a route's authorization rules refuse the caller
	// (HTTP 403).
	CodeForbidden       = "40300"
	CodeInternal        = "50000"
	CodeUpstreamDown    = "50200"
	CodeStoreDown       = "50300"
	CodeUpstreamTimeout = "50400"
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
	dialects.ClassForbidden:        {code: CodeForbidden, msg: "无权访问"},
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

// Answer implements dialects.Answerer.
func (d *Dialect) Answer(_ *http.Request, err error) dialects.Answer {
	code, msg, status, data := toWire(err)
	return dialects.Answer{Status: status, Code: code, Body: envelope{Code: code, Msg: msg, Data: data}}
}

func writeOK(w http.ResponseWriter, data any) {
	dialects.WriteJSON(w, http.StatusOK, envelope{Code: CodeOK, Msg: "成功", Data: data})
}

// refusalCodes are the codes by which an mmm service refuses a token: the
// seed's 10024 and this dialect's own, which a legacy service built to the
// same table shares.
var refusalCodes = map[string]bool{
	CodeAccessMissing: true, CodeAccessMalformed: true, CodeAccessSignature: true, CodeRevoked: true,
	CodeRefreshMissing: true, CodeRefreshInvalid: true, CodeRefreshReused: true, CodeRefreshExpired: true,
}

// ReadUpstream implements dialects.UpstreamReader: an mmm service refuses
// with HTTP 200 and a code, so a JSON answer is read by its code. Only
// codes of the table become labels (anything else is "other"), so the
// label set stays bounded whatever a backend answers.
func (d *Dialect) ReadUpstream(status int, header http.Header, body []byte) dialects.UpstreamAnswer {
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		return dialects.StatusAnswer(status)
	}
	var env struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &env) != nil {
		// An answer longer than what was kept is cut mid-JSON; read its
		// code from the start.
		env.Code = leadingCode(body)
	}
	switch {
	case env.Code == CodeOK:
		return dialects.UpstreamAnswer{Label: CodeOK, Class: dialects.UpstreamAllowed}
	case env.Code == CodeRefreshed:
		return dialects.UpstreamAnswer{Label: CodeRefreshed, Class: dialects.UpstreamRefreshed}
	case refusalCodes[env.Code]:
		return dialects.UpstreamAnswer{Label: env.Code, Class: dialects.UpstreamRefused}
	case env.Code == "":
		return dialects.StatusAnswer(status)
	default:
		return dialects.UpstreamAnswer{Label: "other", Class: dialects.UpstreamUnknown}
	}
}

// leadingCode reads the "code" member of a JSON object whose end was cut
// off, when it comes before the data.
func leadingCode(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if name == "code" {
			var code string
			_ = json.Unmarshal(v, &code)
			return code
		}
	}
	return ""
}
