package dialects

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/authgate/authgate/identity"
)

// Outcome is how one auth-endpoint request ended, noted by the dialect
// for the gateway, which counts logins by result and writes the audit
// line: the dialect knows the result, the gateway sees every endpoint.
type Outcome struct {
	// Err is the error the dialect answered with; nil is success.
	Err error
	// Subject is who the request was for, once the dialect knows.
	Subject string
}

type outcomeKey struct{}

// WithOutcome gives a request an Outcome for its dialect to fill in.
func WithOutcome(ctx context.Context) (context.Context, *Outcome) {
	o := &Outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

// Note records err as the request's outcome; WriteError calls it for
// every error answered.
func Note(r *http.Request, err error) {
	if o, ok := r.Context().Value(outcomeKey{}).(*Outcome); ok {
		o.Err = err
	}
}

// NoteSubject records who the request was for (the user or app logged in,
// refreshed or logged out).
func NoteSubject(r *http.Request, subject string) {
	if o, ok := r.Context().Value(outcomeKey{}).(*Outcome); ok {
		o.Subject = subject
	}
}

// Errors the dialects wrap so that results are told apart the same way in
// every dialect.
var (
	// ErrBadCredentials is a wrong password, app secret or SMS code, or
	// an unknown account: never told apart on the wire.
	ErrBadCredentials = identity.ErrBadCredentials
	// ErrLocked is a credential that may not be tried again for now (an
	// SMS code whose attempts are used up).
	ErrLocked = errors.New("credential locked after too many attempts")
	// ErrDisabled is an account or app an operator disabled.
	ErrDisabled = errors.New("account disabled")
)

// Result is the fixed, low-cardinality word for how a login or refresh
// ended: ok, bad_credentials, locked, disabled, rate_limited,
// store_unavailable, bad_request, client_gone, a refusal's reason
// (expired, revoked, malformed, ...), or error.
func Result(err error) string {
	var ae *AuthError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadCredentials):
		return "bad_credentials"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrDisabled):
		return "disabled"
	case errors.As(err, &ae):
		return ae.Reason
	}
	switch Classify(err) {
	case ClassRateLimited:
		return "rate_limited"
	case ClassStoreDown:
		return "store_unavailable"
	case ClassBadRequest, ClassBodyTooLarge, ClassMethodNotAllowed:
		return "bad_request"
	case ClassClientGone:
		return "client_gone"
	default:
		return "error"
	}
}

// LoginResults are the results a login can end with, for metrics that
// must exist before the first failure (an alert on a rate sees nothing
// of a series that does not exist yet).
var LoginResults = []string{"ok", "bad_credentials", "locked", "disabled", "rate_limited", "store_unavailable", "bad_request", "error"}

// Audit writes one audit event (a login, refresh, logout, kick or
// lockout) at INFO with the message "audit": who, from where, how it
// ended; never a secret. The request id comes with ctx (the gateway's
// logger adds it), the dialect with log (a dialect's logger is tagged with
// its name).
func Audit(ctx context.Context, log *slog.Logger, event, subject, clientIP, result string, attrs ...slog.Attr) {
	all := append([]slog.Attr{
		slog.String("event", event), slog.String("subject", subject),
		slog.String("client_ip", clientIP), slog.String("result", result),
	}, attrs...)
	log.LogAttrs(ctx, slog.LevelInfo, "audit", all...)
}
