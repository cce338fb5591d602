package dialects

import (
	"log/slog"
	"net/http"
)

// Answer is an error as a dialect puts it on the wire: the status, the
// headers it sets and the JSON body. A dialect only renders it
// (Dialect.Answer); WriteError, the one writer of errors, does the rest
// the same way for every dialect, so no refusal can forget the outcome
// note, Retry-After or the log line.
type Answer struct {
	Status int
	// Header is set on the response before the body (WWW-Authenticate).
	Header http.Header
	// Body is written as JSON.
	Body any
	// Code is the dialect's wire code, for the log line of a server error.
	Code string
}

// Answerer renders errors in a dialect's envelope.
type Answerer interface {
	// Answer is err in the dialect's envelope: its own errors and the
	// gateway's (ErrUpstreamUnavailable and friends).
	Answer(r *http.Request, err error) Answer
}

// HandlerFunc is an auth endpoint: it writes its success itself and
// returns its error, which WriteError answers in the dialect's envelope.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// WriteError answers err in d's envelope: it notes the outcome (Note)
// for the audit line and the metrics, sets Retry-After for a limit, logs
// a server error on log, and writes d's answer. Every error a dialect or
// the gateway answers in a dialect's envelope goes through here.
func WriteError(w http.ResponseWriter, r *http.Request, d Answerer, log *slog.Logger, err error) {
	a := d.Answer(r, err)
	Note(r, err)
	SetRetryAfter(w, err)
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	if a.Status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "status", a.Status, "code", a.Code, "err", err)
	}
	WriteJSON(w, a.Status, a.Body)
}

// Serve is an endpoint's handler as an http.HandlerFunc: an error it
// returns is answered by WriteError in d's envelope.
func Serve(d Answerer, log *slog.Logger, h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, d, log, err)
		}
	}
}
