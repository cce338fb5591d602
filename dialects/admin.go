package dialects

import (
	"log/slog"
	"net/http"
)

// AdminRouter is implemented by dialects with admin calls of their own
// (appkey: its apps, switched off and on). The gateway serves them under
// /admin/v1/dialects/{dialect} on the admin listener, authenticated,
// rate-limited, audited and counted like its own calls; what they mean
// stays in the dialect.
type AdminRouter interface {
	AdminRoutes() []AdminRoute
}

// AdminRoute is one admin call of a dialect.
type AdminRoute struct {
	Method string
	// Path follows /admin/v1/dialects/{dialect}; its {name} segments are
	// read with r.PathValue.
	Path string
	// Action names the call in the audit log and in
	// authgate_admin_requests_total.
	Action string
	// Serve answers the call.
	Serve func(r *http.Request) AdminAnswer
}

// AdminAnswer is a dialect's answer to an admin call.
type AdminAnswer struct {
	// Status and Body (written as JSON) are the answer.
	Status int
	Body   any
	// Result is the call's result in the audit log and the metric (ok,
	// not_found, ...).
	Result string
	// Target is what the call concerned (an app id), for the audit line.
	Target string
	Attrs  []slog.Attr
	// Err, when set, is a failure the gateway answers as its own: 503
	// when the store did not answer, else 500; Status and Body are unused.
	Err error
}
