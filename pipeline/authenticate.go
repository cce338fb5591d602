package pipeline

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/dialects"
)

// dialectFor is the dialect whose envelope answers a failure after
// authentication (a method not allowed, an upstream error): the one that
// decided the request, else the route's first.
func (rt *route) dialectFor(r *http.Request) dialects.Dialect {
	if in := info(r); in.authenticated {
		for i, n := range rt.names {
			if n == in.identity.Dialect {
				return rt.dialects[i]
			}
		}
	}
	if len(rt.dialects) > 0 {
		return rt.dialects[0]
	}
	return nil
}

// answer answers err in the envelope of the dialect that decided the
// request (else the route's first), and reports false on a route without
// dialects, which answers plain JSON itself.
func (rt *route) answer(w http.ResponseWriter, r *http.Request, err error) bool {
	d := rt.dialectFor(r)
	if d == nil {
		return false
	}
	dialects.WriteError(w, r, d, rt.log, err)
	return true
}

// refuse answers err in the envelope of the route's dialect i.
func (rt *route) refuse(w http.ResponseWriter, r *http.Request, i int, err error) {
	dialects.WriteError(w, r, rt.dialects[i], rt.log.With("dialect", rt.names[i]), err)
}

// authenticate asks the route's dialects in order; the first that claims
// the request (answers anything but dialects.ErrNotMine) decides it. When
// none does, the first dialect's refusal stands, so a request with no
// credential at all is answered as the route's first dialect would.
func (rt *route) authenticate(r *http.Request) (int, dialects.Identity, error) {
	return rt.decide(r, dialects.Dialect.Authenticate)
}

// decide is authenticate with the dialect method that decides: Authenticate
// on enforce routes, Check (no side effects) on shadow routes.
func (rt *route) decide(r *http.Request, ask func(dialects.Dialect, *http.Request) (dialects.Identity, error)) (int, dialects.Identity, error) {
	var first error
	for i, d := range rt.dialects {
		id, err := ask(d, r)
		if !errors.Is(err, dialects.ErrNotMine) {
			return i, id, err
		}
		if i == 0 {
			first = err
		}
	}
	return 0, dialects.Identity{}, first
}
