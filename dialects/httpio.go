package dialects

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/authgate/authgate/identity"
)

// DefaultMaxBody bounds auth endpoint request bodies when a dialect sets
// no limit of its own: credentials are a few hundred bytes.
const DefaultMaxBody = 64 << 10

// DecodeJSON reads one JSON object of at most limit bytes from the body
// into v. It answers ErrBodyTooLarge, or a RequestError saying what was
// wrong (not JSON, wrong type of a field, trailing data).
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	raw, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("body over %d bytes: %w", limit, ErrBodyTooLarge)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &RequestError{Msg: "the request body did not arrive in time (server.endpoint_read_timeout)"}
	}
	if err != nil {
		return &RequestError{Msg: "could not read request body"}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &RequestError{Msg: "request body is empty; a JSON object is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return &RequestError{Msg: "request body must be a JSON object, not " + typeErr.Value}
		case errors.As(err, &typeErr):
			return &RequestError{Msg: fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)}
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return &RequestError{Msg: "request body is not valid JSON"}
		default:
			return &RequestError{Msg: "request body must be a JSON object"}
		}
	}
	if dec.More() {
		return &RequestError{Msg: "request body has data after the JSON object"}
	}
	return nil
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// WriteJSON writes v as a JSON answer that no cache keeps.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// BearerToken reads "Bearer <token>" from header h of r.
func BearerToken(r *http.Request, h string) (string, bool) {
	v := r.Header.Get(h)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// RetryAfter renders a wait as whole seconds for the Retry-After header,
// rounding up so a client never retries early.
func RetryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return fmt.Sprint(s)
}

// SetRetryAfter sets Retry-After when err is a *RateLimited; WriteError
// calls it for every error answered.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var rl *RateLimited
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", RetryAfter(rl.Wait))
	case errors.Is(err, identity.ErrBusy):
		w.Header().Set("Retry-After", "1")
	}
}

// Single refuses a request that carries any of the named headers more
// than once: which of two credentials counts must never be left to
// whichever value a library reads first. The refusal is malformed
// (ClassBadRequest in every dialect's table).
func Single(r *http.Request, headers ...string) error {
	for _, h := range headers {
		if len(r.Header.Values(h)) > 1 {
			return &AuthError{Reason: ReasonMalformed, Err: &RequestError{Msg: "header " + h + " must be sent once"}}
		}
	}
	return nil
}

// SingleQuery is Single for query parameters.
func SingleQuery(r *http.Request, names ...string) error {
	q := r.URL.Query()
	for _, n := range names {
		if len(q[n]) > 1 {
			return &AuthError{Reason: ReasonMalformed, Err: &RequestError{Msg: "query parameter " + n + " must be sent once"}}
		}
	}
	return nil
}
