package bov3

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/dialects"
)

// wireCode is one row of the error table in docs/dialects/bov3.md: the int code, the
// errorCode string and the HTTP status.
type wireCode struct {
	code      int
	errorCode string
	status    int
}

// Error codes. The seed fixes the envelope, not the codes.
var (
	codeBadRequest      = wireCode{40000, "BAD_REQUEST", http.StatusBadRequest}
	codeBadKeyStyle     = wireCode{40001, "BAD_NODEJS", http.StatusBadRequest}
	codeOwnerMissing    = wireCode{40002, "OWNER_REQUIRED", http.StatusBadRequest}
	codeVerifyMissing   = wireCode{40003, "VERIFY_API_REQUIRED", http.StatusBadRequest}
	codeVerifyInvalid   = wireCode{40004, "VERIFY_API_INVALID", http.StatusBadRequest}
	codeVerifyReplayed  = wireCode{40005, "VERIFY_API_REPLAYED", http.StatusBadRequest}
	codeVerifyStale     = wireCode{40006, "VERIFY_API_EXPIRED", http.StatusBadRequest}
	codeTokenMissing    = wireCode{40100, "TOKEN_REQUIRED", http.StatusUnauthorized}
	codeTokenInvalid    = wireCode{40101, "TOKEN_INVALID", http.StatusUnauthorized}
	codeTokenExpired    = wireCode{40102, "TOKEN_EXPIRED", http.StatusUnauthorized}
	codeTokenRevoked    = wireCode{40103, "TOKEN_REVOKED", http.StatusUnauthorized}
	codeRefreshInvalid  = wireCode{40104, "REFRESH_TOKEN_INVALID", http.StatusUnauthorized}
	codeLoginFailed     = wireCode{40105, "LOGIN_FAILED", http.StatusUnauthorized}
	codeOwnerMismatch   = wireCode{40300, "OWNER_MISMATCH", http.StatusForbidden}
	codeForbidden       = wireCode{40301, "FORBIDDEN", http.StatusForbidden}
	codeMethod          = wireCode{40500, "METHOD_NOT_ALLOWED", http.StatusMethodNotAllowed}
	codeTooLarge        = wireCode{41300, "BODY_TOO_LARGE", http.StatusRequestEntityTooLarge}
	codeRateLimited     = wireCode{42900, "RATE_LIMITED", http.StatusTooManyRequests}
	codeInternal        = wireCode{50000, "INTERNAL_ERROR", http.StatusInternalServerError}
	codeUpstreamDown    = wireCode{50200, "UPSTREAM_UNAVAILABLE", http.StatusBadGateway}
	codeStoreDown       = wireCode{50300, "STORE_UNAVAILABLE", http.StatusServiceUnavailable}
	codeUpstreamTimeout = wireCode{50400, "UPSTREAM_TIMEOUT", http.StatusGatewayTimeout}
	// codeClientGone answers a request its client abandoned; nobody reads it.
	codeClientGone = wireCode{49900, "CLIENT_CLOSED_REQUEST", dialects.StatusClientClosed}
)

// errorBody is the seed's error envelope.
type errorBody struct {
	Success bool      `json:"success"`
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	ErrorCode string `json:"errorCode"`
	ErrorText string `json:"errorText"`
}

// wireError carries its row of the table and the message.
type wireError struct {
	wc  wireCode
	msg string
	err error
}

func (e *wireError) Error() string {
	if e.err != nil {
		return "bov3 " + e.wc.errorCode + ": " + e.msg + ": " + e.err.Error()
	}
	return "bov3 " + e.wc.errorCode + ": " + e.msg
}

func (e *wireError) Unwrap() error { return e.err }

func fail(wc wireCode, msg string, err error) error { return &wireError{wc: wc, msg: msg, err: err} }

func refuse(wc wireCode, reason, msg string, err error) error {
	return &dialects.AuthError{Reason: reason, Err: &wireError{wc: wc, msg: msg, err: err}}
}

// classRows is this dialect's row and message for each shared error
// class.
var classRows = map[dialects.Class]struct {
	wc  wireCode
	msg string
}{
	dialects.ClassInternal:         {codeInternal, "internal error"},
	dialects.ClassBadRequest:       {codeBadRequest, "malformed request"},
	dialects.ClassBodyTooLarge:     {codeTooLarge, "request body too large"},
	dialects.ClassMethodNotAllowed: {codeMethod, "method not allowed"},
	dialects.ClassRateLimited:      {codeRateLimited, "too many attempts, try again later"},
	dialects.ClassStoreDown:        {codeStoreDown, "service temporarily unavailable"},
	dialects.ClassUpstreamTimeout:  {codeUpstreamTimeout, "upstream timed out"},
	dialects.ClassUpstreamDown:     {codeUpstreamDown, "upstream unavailable"},
	dialects.ClassClientGone:       {codeClientGone, "client closed the request"},
	dialects.ClassForbidden:        {codeForbidden, "the caller may not use this route"},
}

// toWire maps any error to its row; the one place codes are chosen.
func toWire(err error) (wireCode, string) {
	var we *wireError
	if errors.As(err, &we) {
		return we.wc, we.msg
	}
	row := classRows[dialects.Classify(err)]
	if detail := dialects.Detail(err); detail != "" {
		return row.wc, detail
	}
	return row.wc, row.msg
}

// Answer implements dialects.Answerer.
func (d *Dialect) Answer(_ *http.Request, err error) dialects.Answer {
	wc, msg := toWire(err)
	return dialects.Answer{Status: wc.status, Code: wc.errorCode,
		Body: errorBody{Success: false, Code: wc.code, Message: msg, Error: errorInfo{ErrorCode: wc.errorCode, ErrorText: msg}}}
}
