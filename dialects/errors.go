package dialects

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Errors the gateway answers in a dialect's envelope (WriteError), each of which the
// dialect maps to one code of its own through Classify.
var (
	ErrUpstreamUnavailable = errors.New("upstream unavailable")
	ErrUpstreamTimeout     = errors.New("upstream timed out")
	// ErrForbidden is an identity a route's authorization rules do not
	// let pass (Forbidden).
	ErrForbidden = errors.New("forbidden by the route's rules")
	// ErrStoreUnavailable is the token store's own outage error, so every
	// store failure the dialects pass on fails closed as 503 without
	// being looked at.
	ErrStoreUnavailable = tokenstore.ErrUnavailable
	ErrMethodNotAllowed = errors.New("method not allowed")
	ErrBodyTooLarge     = errors.New("request body too large")
	ErrMalformedRequest = errors.New("malformed request")
	ErrRateLimited      = errors.New("too many requests")
)

// ErrNotMine is what Authenticate answers (wrapped, see NotMine) when the
// request carries no credential of the dialect's, or one that is not its
// own (another key, another issuer): the gateway then asks the route's
// next dialect, as Oathkeeper's authenticators say "not responsible".
var ErrNotMine = errors.New("not this dialect's credential")

// notMine is a refusal that leaves the request to another dialect.
type notMine struct{ refusal error }

func (e *notMine) Error() string        { return "not mine: " + e.refusal.Error() }
func (e *notMine) Unwrap() error        { return e.refusal }
func (e *notMine) Is(target error) bool { return target == ErrNotMine }

// NotMine marks refusal (what the dialect would answer were it the only
// one on the route) as not deciding the request. It still renders through
// WriteError as refusal, and Reason still reads refusal's reason.
func NotMine(refusal error) error { return &notMine{refusal: refusal} }

// RequestError is a client mistake in an auth request's body, with a
// message fit to show the client.
type RequestError struct {
	Msg string
}

func (e *RequestError) Error() string { return e.Msg }

// Is makes every RequestError match ErrMalformedRequest.
func (e *RequestError) Is(target error) bool { return target == ErrMalformedRequest }

// AuthError is a refused credential. Reason is a short, fixed word used as
// the metrics label (never the token itself).
type AuthError struct {
	Reason string
	Err    error
}

// Auth refusal reasons shared by the dialects.
const (
	ReasonMissing   = "missing"
	ReasonMalformed = "malformed"
	ReasonSignature = "bad_signature"
	ReasonExpired   = "expired"
	ReasonRevoked   = "revoked"
	ReasonRefreshed = "refreshed"
	// ReasonLegacy is a token the dialect cannot verify while its legacy
	// window is open: perhaps the legacy service's, so the client is told
	// its token expired, and its refresh is exchanged.
	ReasonLegacy = "legacy"
	// ReasonForbidden is a genuine credential whose identity a route's
	// authorization rules refuse.
	ReasonForbidden = "forbidden"
)

// Forbidden is the refusal of a request that rule did not let pass: the
// reason forbidden in the metrics, ClassForbidden in every dialect's
// envelope.
func Forbidden(rule string) error {
	return &AuthError{Reason: ReasonForbidden, Err: fmt.Errorf("rule %s: %w", rule, ErrForbidden)}
}

func (e *AuthError) Error() string {
	if e.Err == nil {
		return "credential refused: " + e.Reason
	}
	return fmt.Sprintf("credential refused: %s: %v", e.Reason, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Reason gives the metrics label for an Authenticate error.
func Reason(err error) string {
	var ae *AuthError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ae):
		return ae.Reason
	case errors.Is(err, ErrStoreUnavailable):
		return "store_unavailable"
	case errors.Is(err, tokenstore.ErrReadOnly):
		return ReasonShadowWrite
	default:
		return "error"
	}
}

// Class is the kind of a failure that is not a dialect's own refusal: the
// gateway's errors and the shared request checks. Each dialect holds a
// table from Class to its own code and message.
type Class int

// The classes, from the client's mistakes to the gateway's failures.
const (
	ClassInternal Class = iota
	ClassBadRequest
	ClassBodyTooLarge
	ClassMethodNotAllowed
	ClassRateLimited
	ClassStoreDown
	ClassUpstreamTimeout
	ClassUpstreamDown
	// ClassForbidden is a request whose identity a route's authorization
	// rules do not let pass (ErrForbidden): 403 in every dialect.
	ClassForbidden
	// ClassClientGone is a request its client abandoned (its context was
	// canceled): nobody reads the answer, so it is neither logged as an
	// error nor counted as a store failure; the access log shows 499.
	ClassClientGone
)

// StatusClientClosed is the status the access log records for a request
// the client abandoned (nginx's 499).
const StatusClientClosed = 499

// String names the class (the golden files of the envelopes use it).
func (c Class) String() string {
	switch c {
	case ClassBadRequest:
		return "bad_request"
	case ClassBodyTooLarge:
		return "body_too_large"
	case ClassMethodNotAllowed:
		return "method_not_allowed"
	case ClassRateLimited:
		return "rate_limited"
	case ClassStoreDown:
		return "store_down"
	case ClassUpstreamTimeout:
		return "upstream_timeout"
	case ClassUpstreamDown:
		return "upstream_down"
	case ClassClientGone:
		return "client_gone"
	case ClassForbidden:
		return "forbidden"
	default:
		return "internal"
	}
}

// Classes lists every Class, for tests that check a dialect's table is
// complete.
var Classes = []Class{ClassInternal, ClassBadRequest, ClassBodyTooLarge, ClassMethodNotAllowed,
	ClassRateLimited, ClassStoreDown, ClassUpstreamTimeout, ClassUpstreamDown, ClassClientGone, ClassForbidden}

// Classify tells which Class err is; anything unknown is ClassInternal.
// The order matters: a body over the limit is also malformed.
func Classify(err error) Class {
	switch {
	case errors.Is(err, context.Canceled):
		return ClassClientGone
	case errors.Is(err, ErrBodyTooLarge):
		return ClassBodyTooLarge
	case errors.Is(err, ErrMalformedRequest):
		return ClassBadRequest
	case errors.Is(err, ErrMethodNotAllowed):
		return ClassMethodNotAllowed
	case errors.Is(err, ErrRateLimited), errors.Is(err, identity.ErrBusy):
		return ClassRateLimited
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, identity.ErrUnavailable):
		return ClassStoreDown
	case errors.Is(err, ErrUpstreamTimeout):
		return ClassUpstreamTimeout
	case errors.Is(err, ErrUpstreamUnavailable):
		return ClassUpstreamDown
	case errors.Is(err, ErrForbidden):
		return ClassForbidden
	default:
		return ClassInternal
	}
}

// Status is the HTTP status a class answers with in every dialect.
func (c Class) Status() int {
	switch c {
	case ClassBadRequest:
		return http.StatusBadRequest
	case ClassBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case ClassMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case ClassRateLimited:
		return http.StatusTooManyRequests
	case ClassStoreDown:
		return http.StatusServiceUnavailable
	case ClassUpstreamTimeout:
		return http.StatusGatewayTimeout
	case ClassUpstreamDown:
		return http.StatusBadGateway
	case ClassClientGone:
		return StatusClientClosed
	case ClassForbidden:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// Detail is the client-facing message of a RequestError in err ("" when
// there is none), which dialects add to their bad-request message.
func Detail(err error) string {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Msg
	}
	return ""
}
