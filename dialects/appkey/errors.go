package appkey

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/dialects"
)

// springError is Spring Boot's default error body, which clients of the
// documented service already parse.
type springError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

// springTimestamp is the layout Spring Boot's error attributes use.
const springTimestamp = "2006-01-02T15:04:05.000-07:00"

// statusError is an answer with a plain HTTP status and a message.
type statusError struct {
	status int
	msg    string
	err    error
}

func (e *statusError) Error() string {
	if e.err != nil {
		return "appkey: " + e.msg + ": " + e.err.Error()
	}
	return "appkey: " + e.msg
}

func (e *statusError) Unwrap() error { return e.err }

func fail(status int, msg string, err error) error {
	return &statusError{status: status, msg: msg, err: err}
}

func refuse(status int, reason, msg string, err error) error {
	return &dialects.AuthError{Reason: reason, Err: &statusError{status: status, msg: msg, err: err}}
}

// toWire maps any error to a status and message; the one place they are
// chosen.
func toWire(err error) (int, string) {
	var se *statusError
	var reqErr *dialects.RequestError
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case errors.As(err, &reqErr):
		return http.StatusBadRequest, reqErr.Msg
	case errors.Is(err, dialects.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "Request body too large"
	case errors.Is(err, dialects.ErrMalformedRequest):
		return http.StatusBadRequest, "Malformed request"
	case errors.Is(err, dialects.ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed, "Request method not supported"
	case errors.Is(err, dialects.ErrRateLimited):
		return http.StatusTooManyRequests, "Too many failed logins; try again later"
	case errors.Is(err, dialects.ErrStoreUnavailable):
		return http.StatusServiceUnavailable, "Service temporarily unavailable"
	case errors.Is(err, dialects.ErrUpstreamTimeout):
		return http.StatusGatewayTimeout, "Upstream timed out"
	case errors.Is(err, dialects.ErrUpstreamUnavailable):
		return http.StatusBadGateway, "Upstream unavailable"
	default:
		return http.StatusInternalServerError, "Internal error"
	}
}

// WriteError implements dialects.Dialect.
func (d *Dialect) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := toWire(err)
	dialects.SetRetryAfter(w, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	}
	if status >= 500 {
		d.log.ErrorContext(r.Context(), "appkey request failed", "status", status, "err", err)
	}
	dialects.WriteJSON(w, status, springError{
		Timestamp: d.now().UTC().Format(springTimestamp), Status: status,
		Error: http.StatusText(status), Message: msg, Path: r.URL.Path,
	})
}
