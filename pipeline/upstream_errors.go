package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/upstream"
)

// upstreamError answers a failed forward in the envelope of the dialect
// that authenticated the request (or the route's first one).
func (rt *route) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var wireErr error
	status := http.StatusBadGateway
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		// The body grew past the route's max_body_bytes on its way up.
		rt.bodyTooLarge(w, r)
		return
	case errors.Is(err, upstream.ErrClientGone):
		// Nobody is listening; 499 is what the access log records.
		w.WriteHeader(499)
		return
	case errors.Is(err, upstream.ErrTimeout):
		wireErr, status = dialects.ErrUpstreamTimeout, http.StatusGatewayTimeout
		rt.upstreamErrors.WithLabelValues("timeout").Inc()
	default:
		wireErr = dialects.ErrUpstreamUnavailable
		rt.upstreamErrors.WithLabelValues("unavailable").Inc()
	}
	if rt.answer(w, r, fmt.Errorf("route %s: %w: %w", rt.name, wireErr, err)) {
		return
	}
	writePlainJSON(w, status, map[string]string{"error": wireErr.Error()})
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
