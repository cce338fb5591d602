package dialects

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/authgate/authgate/internal/secrets"
	"github.com/authgate/authgate/tokenstore"
)

// DefaultMaxBody bounds auth endpoint request bodies when a dialect sets
// no limit of its own: credentials are a few hundred bytes.
const DefaultMaxBody = 64 << 10

// RequestError is a client mistake in an auth request's body, with a
// message fit to show the client.
type RequestError struct {
	Msg string
}

func (e *RequestError) Error() string { return e.Msg }

// Is makes every RequestError match ErrMalformedRequest.
func (e *RequestError) Is(target error) bool { return target == ErrMalformedRequest }

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

// DecodeBlock decodes a dialect's config block into out strictly: unknown
// keys and wrong types are errors naming the key; "30m" style strings
// become time.Duration.
func DecodeBlock(block map[string]any, out any) error {
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		Metadata:         &md,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		TagName:          "koanf",
	})
	if err != nil {
		return err
	}
	return dec.Decode(block)
}

// NewID returns a random, URL-safe identifier of 128 bits.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how refresh tokens are kept in the store. Tokens carry 128
// bits or more of randomness, so a fast hash suffices; the store never
// sees the token itself.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// successorKey derives the key that seals a rotation's successor from the
// presented refresh token: only a holder of that token can open it, so the
// store never holds a usable token in clear.
func successorKey(presented string) []byte {
	sum := sha256.Sum256([]byte("authgate successor\x00" + presented))
	return sum[:]
}

// SealSuccessor encrypts v (the new token pair) with a key derived from the
// presented refresh token, for tokenstore.Rotation.Successor.
func SealSuccessor(presented string, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	gcm, err := successorAEAD(presented)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, nil), nil
}

// OpenSuccessor decrypts a sealed successor into v.
func OpenSuccessor(presented string, sealed []byte, v any) error {
	gcm, err := successorAEAD(presented)
	if err != nil {
		return err
	}
	if len(sealed) < gcm.NonceSize() {
		return errors.New("dialects: sealed successor too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return fmt.Errorf("dialects: open successor: %w", err)
	}
	return json.Unmarshal(plain, v)
}

func successorAEAD(presented string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(successorKey(presented))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
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

// BearerToken reads "Bearer <token>" from header h of r.
func BearerToken(r *http.Request, h string) (string, bool) {
	v := r.Header.Get(h)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// storeOutage marks a store that did not answer (down, timed out), as
// opposed to one of its verdicts: the request fails closed with the
// dialect's store-unavailable code.
type storeOutage struct{ err error }

func (e *storeOutage) Error() string        { return "token store: " + e.err.Error() }
func (e *storeOutage) Unwrap() error        { return e.err }
func (e *storeOutage) Is(target error) bool { return target == ErrStoreUnavailable }

// StoreFailure classifies an error of the token store: its verdicts
// (tokenstore.ErrNotFound, ErrReused) pass through; anything else becomes
// an error that matches ErrStoreUnavailable.
func StoreFailure(err error) error {
	if errors.Is(err, tokenstore.ErrNotFound) || errors.Is(err, tokenstore.ErrReused) {
		return err
	}
	return &storeOutage{err: err}
}

// WriteJSON writes v as a JSON answer that no cache keeps.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SecretRef is the secret / secret_env / secret_file trio of a dialect
// block; embed it with `koanf:",squash"`.
type SecretRef struct {
	Secret     string `koanf:"secret"`
	SecretEnv  string `koanf:"secret_env"`
	SecretFile string `koanf:"secret_file"`
}

// Resolve reads the secret, at least min bytes long.
func (s SecretRef) Resolve(deps Deps, min int) ([]byte, error) {
	return secrets.Resolve("secret", secrets.Source{Inline: s.Secret, Env: s.SecretEnv, File: s.SecretFile}, deps.LookupEnv, deps.ConfigDir, min)
}

// RateLimited is a request over a limit. It matches ErrRateLimited; Wait
// is how long until the limit's window resets.
type RateLimited struct {
	// Msg, when set, is the message for the client.
	Msg  string
	Wait time.Duration
}

func (e *RateLimited) Error() string        { return "rate limited: " + e.Msg }
func (e *RateLimited) Is(target error) bool { return target == ErrRateLimited }

// CountAttempt counts one attempt in key's fixed window and answers a
// *RateLimited once the count passes limit; a store that does not answer
// comes back as a StoreFailure (fail closed).
func CountAttempt(ctx context.Context, store tokenstore.Store, key string, window time.Duration, limit int64, now time.Time) error {
	n, reset, err := store.Hit(ctx, key, window, now)
	if err != nil {
		return StoreFailure(err)
	}
	if n > limit {
		return &RateLimited{Wait: reset}
	}
	return nil
}

// SetRetryAfter sets Retry-After when err is a *RateLimited; every
// dialect's WriteError calls it.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var rl *RateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", RetryAfter(rl.Wait))
	}
}

// PositiveDurations reports each named duration that is not above zero,
// for config validation.
func PositiveDurations(named map[string]time.Duration) []error {
	var errs []error
	for key, d := range named {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", key, d))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}
