package appkey

import (
	"errors"
	"net/http"
	"strconv"

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

// classMessages is this dialect's message for each shared error class;
// the status is the class's own.
var classMessages = map[dialects.Class]string{
	dialects.ClassInternal:         "Internal error",
	dialects.ClassBadRequest:       "Malformed request",
	dialects.ClassBodyTooLarge:     "Request body too large",
	dialects.ClassMethodNotAllowed: "Request method not supported",
	dialects.ClassRateLimited:      "Too many failed logins; try again later",
	dialects.ClassStoreDown:        "Service temporarily unavailable",
	dialects.ClassUpstreamTimeout:  "Upstream timed out",
	dialects.ClassUpstreamDown:     "Upstream unavailable",
	dialects.ClassClientGone:       "Client closed request",
	dialects.ClassForbidden:        "Access is denied",
}

// toWire maps any error to a status and message; the one place they are
// chosen.
func toWire(err error) (int, string) {
	var se *statusError
	if errors.As(err, &se) {
		return se.status, se.msg
	}
	class := dialects.Classify(err)
	if detail := dialects.Detail(err); detail != "" {
		return class.Status(), detail
	}
	if errors.Is(err, dialects.ErrRouteRateLimited) {
		return class.Status(), "Too many requests; try again later"
	}
	return class.Status(), classMessages[class]
}

// Answer implements dialects.Answerer.
func (d *Dialect) Answer(r *http.Request, err error) dialects.Answer {
	status, msg := toWire(err)
	a := dialects.Answer{Status: status, Code: strconv.Itoa(status), Body: springError{
		Timestamp: d.now().UTC().Format(springTimestamp), Status: status,
		Error: http.StatusText(status), Message: msg, Path: r.URL.Path,
	}}
	if status == http.StatusUnauthorized {
		a.Header = http.Header{"Www-Authenticate": {`Bearer realm="api"`}}
	}
	return a
}
