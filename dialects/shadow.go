package dialects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/authgate/authgate/internal/jsonhttp"
)

type checkingKey struct{}

// ForCheck is r marked for a check without side effects: a dialect's
// Check hands it to its own authentication, whose steps that would write
// (rotate a refresh token on the mmm 10026 path, spend a bov3 XverifyApi
// nonce, count a legacy token) ask Checking and decide without the write.
func ForCheck(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), checkingKey{}, true))
}

// Checking reports whether r is being checked without side effects
// (ForCheck).
func Checking(r *http.Request) bool {
	v, _ := r.Context().Value(checkingKey{}).(bool)
	return v
}

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
	// UpstreamExpired: the upstream said the token expired (a legacy
	// service's own code for it, LegacyAnswers.Expired).
	UpstreamExpired
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
	if up.Class == UpstreamExpired {
		// The client is told to refresh: the gateway agrees when it says
		// so too, or refreshes in place (mmm's 10026).
		if verdict == ReasonExpired || verdict == ReasonRefreshed {
			return "agree"
		}
		if verdict == "store_unavailable" || verdict == "error" || verdict == ReasonShadowWrite || verdict == ReasonLegacy {
			return "inconclusive"
		}
		return "disagree"
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

// LegacyAnswers is how a legacy service answers "allowed", "refused" and
// "expired" when its answers are not the gateway's own (a shadow route's
// legacy_answers): HTTP statuses, and codes read from the JSON body at
// CodePath. Without it a shadow route reads answers as its dialect does
// (StatusAnswer, or the dialect's UpstreamReader).
type LegacyAnswers struct {
	// CodePath is the dotted path of the code in a JSON answer ("code",
	// "ret.code"); required with any Codes.
	CodePath string `koanf:"code_path"`
	// Allowed, Refused and Expired are the legacy service's answers that
	// mean the request was allowed, refused, or refused for an expired
	// token.
	Allowed AnswerMatch `koanf:"allowed"`
	Refused AnswerMatch `koanf:"refused"`
	Expired AnswerMatch `koanf:"expired"`
}

// AnswerMatch matches an answer whose status is one of Statuses or whose
// code is one of Codes: a legacy service that refuses with 401 on some
// paths and with 200 and a code on others lists both.
type AnswerMatch struct {
	// Statuses are HTTP statuses; Codes are values at code_path.
	Statuses []int    `koanf:"statuses"`
	Codes    []string `koanf:"codes"`
}

func (m AnswerMatch) set() bool { return len(m.Statuses) > 0 || len(m.Codes) > 0 }

// match reports whether the answer matches, and whether by its code.
func (m AnswerMatch) match(status int, code string) (ok, byCode bool) {
	if code != "" && slices.Contains(m.Codes, code) {
		return true, true
	}
	return slices.Contains(m.Statuses, status), false
}

// Check names each problem of the block by its key under at.
func (a LegacyAnswers) Check(at string) []error {
	var errs []error
	if !a.Allowed.set() && !a.Refused.set() && !a.Expired.set() {
		errs = append(errs, fmt.Errorf("%s: set at least one of allowed, refused, expired (statuses and/or codes)", at))
	}
	for _, r := range []struct {
		name string
		m    AnswerMatch
	}{{"allowed", a.Allowed}, {"refused", a.Refused}, {"expired", a.Expired}} {
		for i, s := range r.m.Statuses {
			if s < 100 || s > 599 {
				errs = append(errs, fmt.Errorf("%s.%s.statuses[%d]: %d is not an HTTP status", at, r.name, i, s))
			}
		}
		if len(r.m.Codes) > 0 && a.CodePath == "" {
			errs = append(errs, fmt.Errorf("%s.code_path: required with %s.codes: where the code is in the legacy service's JSON answer (\"code\", \"ret.code\")", at, r.name))
		}
	}
	return errs
}

// Reads reports whether reading an answer needs its body.
func (a LegacyAnswers) Reads() bool { return a.CodePath != "" }

// Read classes an answer by the rules, expired first, then refused, then
// allowed, so a 200 carrying a refusal code is a refusal even where
// allowed lists status 200. The label is the matched code, or the
// status: both come from the config, so the label set stays bounded; an
// answer no rule matches is "other".
func (a LegacyAnswers) Read(status int, body []byte) UpstreamAnswer {
	code := ""
	if a.CodePath != "" {
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			code = jsonhttp.Str(jsonhttp.At(v, a.CodePath))
		}
	}
	for _, rule := range []struct {
		m     AnswerMatch
		class UpstreamClass
	}{{a.Expired, UpstreamExpired}, {a.Refused, UpstreamRefused}, {a.Allowed, UpstreamAllowed}} {
		ok, byCode := rule.m.match(status, code)
		if !ok {
			continue
		}
		label := strconv.Itoa(status)
		if byCode {
			label = code
		}
		return UpstreamAnswer{Label: label, Class: rule.class}
	}
	return UpstreamAnswer{Label: "other", Class: UpstreamUnknown}
}
