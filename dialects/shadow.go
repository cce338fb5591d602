package dialects

import (
	"context"
	"net/http"

	"github.com/authgate/authgate/tokenstore"
)

// WithShadow marks ctx as a shadow check: the dialect decides the request
// as it would on an enforce route but changes nothing. The store the
// gateway hands dialects refuses every write under it
// (tokenstore.ReadOnly); a dialect whose check would write (rotate a
// refresh token on the mmm 10026 path, spend a bov3 XverifyApi nonce)
// asks InShadow and decides without the write.
func WithShadow(ctx context.Context) context.Context { return tokenstore.ReadOnly(ctx) }

// InShadow reports whether r is being checked in shadow (WithShadow).
func InShadow(r *http.Request) bool { return tokenstore.IsReadOnly(r.Context()) }

// ReasonShadowWrite is the verdict of a shadow check that tried to write
// to the store: a dialect bug the shadow metrics show, never a refusal a
// client sees.
const ReasonShadowWrite = "shadow_write"

// UpstreamClass is what an upstream's answer says about the credentials
// of the request it answered, for comparing it with the gateway's own
// verdict in shadow mode.
type UpstreamClass int

const (
	// UpstreamUnknown: the answer says nothing about the credentials (a
	// 404, a 500, a business error).
	UpstreamUnknown UpstreamClass = iota
	// UpstreamAllowed: the upstream accepted the credentials.
	UpstreamAllowed
	// UpstreamRefused: the upstream refused them.
	UpstreamRefused
	// UpstreamRefreshed: the upstream answered with a refreshed token
	// (the mmm 10026 answer).
	UpstreamRefreshed
)

// UpstreamAnswer is an upstream's answer as the shadow metrics see it:
// Label is a bounded word for the metric label ("2xx", "401", "403",
// "other", or a dialect's own code).
type UpstreamAnswer struct {
	Label string
	Class UpstreamClass
}

// UpstreamReader is implemented by dialects whose refusals the HTTP status
// does not tell (mmm answers 200 with a code in the body). body is at most
// the first few KiB of the answer.
type UpstreamReader interface {
	ReadUpstream(status int, header http.Header, body []byte) UpstreamAnswer
}

// StatusAnswer reads an upstream's answer by its status alone: 2xx
// allowed, 401 and 403 refused, anything else unknown.
func StatusAnswer(status int) UpstreamAnswer {
	switch {
	case status >= 200 && status < 300:
		return UpstreamAnswer{Label: "2xx", Class: UpstreamAllowed}
	case status == http.StatusUnauthorized:
		return UpstreamAnswer{Label: "401", Class: UpstreamRefused}
	case status == http.StatusForbidden:
		return UpstreamAnswer{Label: "403", Class: UpstreamRefused}
	default:
		return UpstreamAnswer{Label: "other", Class: UpstreamUnknown}
	}
}

// Agreement compares a shadow verdict (Reason of the dialect's answer:
// "ok" or a refusal's reason) with the upstream's answer: "agree",
// "disagree", or "inconclusive" when either side says nothing about the
// credentials (an unknown upstream answer, a store that did not answer).
func Agreement(verdict string, up UpstreamAnswer) string {
	if up.Class == UpstreamUnknown {
		return "inconclusive"
	}
	var want UpstreamClass
	switch verdict {
	case "ok":
		want = UpstreamAllowed
	case ReasonRefreshed:
		want = UpstreamRefreshed
	case "store_unavailable", "error", ReasonShadowWrite, ReasonLegacy:
		// ReasonLegacy: a token the gateway sends to refresh, which the
		// legacy service may well accept; neither side is wrong.
		return "inconclusive"
	default:
		want = UpstreamRefused
	}
	if up.Class == want {
		return "agree"
	}
	return "disagree"
}
