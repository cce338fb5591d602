package dialecttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/internal/legacytest"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/upstream"
)

var update = flag.Bool("update", false, "rewrite the golden envelope files of the dialect contract")

// Case describes one dialect to the contract.
type Case struct {
	Factory dialects.Factory
	Name    string
	Block   string
	// Options for Start; the contract sets Kind.
	Options Options
	// Login signs in on e and returns a function that gives the headers
	// of one authenticated request (a fresh anti-replay header each time
	// where the dialect wants one).
	Login func(t *testing.T, e *Env) func() map[string]string
	// Garbage are header sets carrying a credential of the dialect's shape
	// that is not genuine.
	Garbage []map[string]string
	// Normalize blanks what varies from run to run in an envelope (a
	// timestamp) before it is compared with the golden file.
	Normalize func(body map[string]any)
	// Legacy is the dialect's legacy window, for the exchange protocol.
	Legacy *LegacyCase
}

// LegacyCase is what a dialect supplies to the contract's test of the
// legacy exchange (dialects.ExchangeLegacy, AdoptLegacy): only its
// lookup. The contract serves a fake legacy service (internal/legacytest)
// and checks the protocol the same way for every dialect: a genuine
// legacy refresh token is exchanged once, counted once, and once its
// session has ended it is never exchanged again.
type LegacyCase struct {
	// Block is the dialect's legacy block for a legacy service at url.
	Block func(url string) string
	// Token mints a genuine legacy refresh token of Subject at svc.
	Token func(t *testing.T, svc *legacytest.Service) string
	// Refresh presents tok as the dialect's refresh endpoint takes it and
	// reports whether it was answered with the dialect's success.
	Refresh func(t *testing.T, e *Env, tok string) bool
	// Subject is whose session the exchange makes.
	Subject string
}

// Contract checks what every dialect owes the gateway, on the memory store
// and on Redis: no credential is not its to decide (dialects.ErrNotMine)
// and is refused with the reason "missing"; garbage is refused with a
// reason (both in the envelope; the status is the dialect's: mmm answers
// refusals with 200); a login's credential passes; a store outage fails closed with
// 503 in the dialect's envelope; every error class (the gateway's
// upstream errors among them) answers its status in the envelope recorded
// in testdata/envelopes.golden.json (go test -update rewrites it);
// endpoint paths are canonical and unique; a shadow check writes nothing;
// a legacy refresh token (Legacy) is exchanged once and never again after
// its session ended.
func Contract(t *testing.T, c Case) {
	ForEachStore(t, func(t *testing.T, kind string) {
		o := c.Options
		o.Kind = kind
		t.Run("NoCredentialIsNotMine", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			_, err := e.Dialect.Authenticate(httptest.NewRequest("GET", "/x", nil))
			if !errors.Is(err, dialects.ErrNotMine) || dialects.Reason(err) != dialects.ReasonMissing {
				t.Fatalf("no credential: err = %v (reason %s), want ErrNotMine, reason missing", err, dialects.Reason(err))
			}
			if r, id := e.Protected(t, "/x", nil); id != nil || r.Status >= 500 || r.Body == nil {
				t.Fatalf("no credential over HTTP: %d %s, want a refusal in the envelope", r.Status, r.Raw)
			}
		})
		t.Run("GarbageIsRefusedWithAReason", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			for _, h := range c.Garbage {
				req := httptest.NewRequest("GET", "/x", nil)
				for k, v := range h {
					req.Header.Set(k, v)
				}
				_, err := e.Dialect.Authenticate(req)
				switch reason := dialects.Reason(err); reason {
				case "ok", "error", "store_unavailable", dialects.ReasonMissing:
					t.Errorf("garbage %v: err = %v, reason %q; want a refusal with its reason", h, err, reason)
				}
				if r, id := e.Protected(t, "/x", h); id != nil || r.Status >= 500 || r.Body == nil {
					t.Errorf("garbage %v over HTTP: %d %s, want a refusal in the envelope", h, r.Status, r.Raw)
				}
			}
		})
		t.Run("LoginPasses", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			headers := c.Login(t, e)
			r, id := e.Protected(t, "/x", headers())
			if id == nil || id.Dialect != c.Name || id.Subject == "" || id.SessionID == "" {
				t.Fatalf("a login's credential: %d %s", r.Status, r.Raw)
			}
		})
		if c.Legacy != nil {
			t.Run("LegacyTokenExchangedOnce", func(t *testing.T) {
				lo := o
				lo.Clock = NewClock()
				svc := legacytest.Start(t, lo.Clock.Now)
				e := Start(t, c.Factory, c.Name, c.Block+c.Legacy.Block(svc.URL), lo)
				tok := c.Legacy.Token(t, svc)
				exchanged := `authgate_legacy_tokens_total{dialect="` + c.Name + `",kind="refresh",result="exchanged"} `
				if !c.Legacy.Refresh(t, e, tok) {
					t.Fatal("a genuine legacy refresh token was not exchanged")
				}
				if m := e.Metrics(t); !strings.Contains(m, exchanged+"1\n") {
					t.Fatalf("the exchange is not counted once:\n%s", m)
				}
				n, err := e.Store.RevokeSubject(context.Background(), c.Name, c.Legacy.Subject, lo.Clock.Now())
				if err != nil || n != 1 {
					t.Fatalf("ending the exchanged session: %d sessions of %s, %v", n, c.Legacy.Subject, err)
				}
				if c.Legacy.Refresh(t, e, tok) {
					t.Fatal("a legacy token whose session ended was exchanged again")
				}
				if m := e.Metrics(t); !strings.Contains(m, exchanged+"1\n") {
					t.Fatalf("a refused presentation counted as an exchange:\n%s", m)
				}
			})
		}
		t.Run("CheckChangesNothing", func(t *testing.T) {
			// Check, what shadow routes ask, passes a login's credential
			// without a write (the store is guarded as the gateway guards
			// it under a shadow check: a write would be refused and fail
			// the check), and leaves the very same request good for the
			// legacy service to spend: an anti-replay header it checked is
			// still fresh.
			e := Start(t, c.Factory, c.Name, c.Block, o)
			h := c.Login(t, e)()
			req := httptest.NewRequest("GET", "/x", nil).WithContext(tokenstore.ReadOnly(context.Background()))
			for k, v := range h {
				req.Header.Set(k, v)
			}
			id, err := e.Dialect.Check(req)
			if err != nil {
				t.Fatalf("Check of a login's credential: %v (reason %s)", err, dialects.Reason(err))
			}
			if id.Dialect != c.Name || id.Subject == "" {
				t.Fatalf("Check's identity: %+v", id)
			}
			if r, id := e.Protected(t, "/x", h); id == nil {
				t.Fatalf("the same request after its shadow check: %d %s", r.Status, r.Raw)
			}
		})
		t.Run("AnotherSpellingOfTheTokenIsRefused", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			headers := c.Login(t, e)
			for _, respell := range []func(string) string{
				func(tok string) string { return strings.Replace(tok, ".", "=.", 1) },                        // padding
				func(tok string) string { i := strings.LastIndex(tok, "."); return tok[:i] + "=" + tok[i:] }, // padding
			} {
				h := headers()
				changed := false
				for k, v := range h {
					if strings.Count(v, ".") >= 2 {
						h[k] = respell(v)
						changed = true
					}
				}
				if !changed {
					t.Fatal("the login's headers carry no JWT")
				}
				if r, id := e.Protected(t, "/x", h); id != nil || r.Status >= 500 {
					t.Errorf("a respelt token: %d %s, want a refusal", r.Status, r.Raw)
				}
			}
		})
		t.Run("DuplicateCredentialIsRefused", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			headers := c.Login(t, e)
			for name, value := range headers() {
				req := httptest.NewRequest("GET", "/x", nil)
				for k, v := range headers() {
					req.Header.Set(k, v)
				}
				req.Header.Add(name, value)
				_, err := e.Dialect.Authenticate(req)
				if err == nil || errors.Is(err, dialects.ErrNotMine) || dialects.Reason(err) != dialects.ReasonMalformed {
					t.Errorf("%s sent twice: err = %v, want a malformed refusal that decides the request", name, err)
				}
				rec := httptest.NewRecorder()
				dialects.WriteError(rec, req, e.Dialect, nil, err)
				if rec.Code >= 500 || rec.Body.Len() == 0 {
					t.Errorf("%s sent twice answered %d", name, rec.Code)
				}
			}
		})
		t.Run("StoreOutageFailsClosed", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			headers := c.Login(t, e)
			e.Store.Down(true)
			defer e.Store.Down(false)
			r, id := e.Protected(t, "/x", headers())
			if id != nil || r.Status != 503 {
				t.Fatalf("store down: %d %s, want 503", r.Status, r.Raw)
			}
			golden(t, c)["store_down_on_request"] = envelope(r, c.Normalize)
		})
		t.Run("EndpointPathsCanonicalAndUnique", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			seen := map[string]bool{}
			for _, ep := range e.Dialect.Endpoints() {
				if canon, err := upstream.Canonicalize(ep.Path); err != nil || canon != ep.Path || !strings.HasPrefix(ep.Path, "/") {
					t.Errorf("endpoint path %q is not canonical", ep.Path)
				}
				if seen[ep.Method+" "+ep.Path] {
					t.Errorf("endpoint %s %s listed twice", ep.Method, ep.Path)
				}
				seen[ep.Method+" "+ep.Path] = true
				if ep.Handler == nil {
					t.Errorf("endpoint %s %s has no handler", ep.Method, ep.Path)
				}
			}
			if len(seen) == 0 {
				t.Error("no endpoints")
			}
		})
		t.Run("ErrorClassesInTheEnvelope", func(t *testing.T) {
			e := Start(t, c.Factory, c.Name, c.Block, o)
			g := golden(t, c)
			for _, class := range dialects.Classes {
				rec := httptest.NewRecorder()
				dialects.WriteError(rec, httptest.NewRequest("GET", "/x", nil), e.Dialect, nil, classError(class))
				if rec.Code != class.Status() {
					t.Errorf("%s: status %d, want %d", class, rec.Code, class.Status())
				}
				g[class.String()] = envelope(Reply{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}, c.Normalize)
			}
			r, _ := e.Protected(t, "/x", nil)
			g["no_credential"] = envelope(r, c.Normalize)
		})
	})
}

// classError is an error of class c as the gateway or a handler makes it.
func classError(c dialects.Class) error {
	switch c {
	case dialects.ClassBadRequest:
		return &dialects.RequestError{Msg: "field \"x\" must be a string, not number"}
	case dialects.ClassBodyTooLarge:
		return fmt.Errorf("body over 10 bytes: %w", dialects.ErrBodyTooLarge)
	case dialects.ClassMethodNotAllowed:
		return dialects.ErrMethodNotAllowed
	case dialects.ClassRateLimited:
		return &dialects.RateLimited{Wait: 90 * time.Second}
	case dialects.ClassStoreDown:
		return fmt.Errorf("session: %w", dialects.ErrStoreUnavailable)
	case dialects.ClassUpstreamTimeout:
		return fmt.Errorf("route x: %w", dialects.ErrUpstreamTimeout)
	case dialects.ClassUpstreamDown:
		return fmt.Errorf("route x: %w", dialects.ErrUpstreamUnavailable)
	case dialects.ClassClientGone:
		return fmt.Errorf("check session: %w", context.Canceled)
	case dialects.ClassForbidden:
		return dialects.Forbidden("admins-only")
	default:
		return errors.New("something broke")
	}
}

// envelope is what a golden file records of an answer: status, body and
// the headers a client acts on.
func envelope(r Reply, normalize func(map[string]any)) map[string]any {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		body = map[string]any{"not json": string(r.Raw)}
	}
	if normalize != nil {
		normalize(body)
	}
	out := map[string]any{"status": r.Status, "body": body}
	for _, h := range []string{"Content-Type", "Retry-After", "WWW-Authenticate", "Cache-Control"} {
		if v := r.Header.Get(h); v != "" {
			out[h] = v
		}
	}
	return out
}

// golden is the map of envelopes a test fills; when the test ends it is
// compared with (or, with -update, written to) the dialect's golden file.
// The memory and Redis runs must agree with one file.
func golden(t *testing.T, c Case) map[string]any {
	got := map[string]any{}
	t.Cleanup(func() {
		path := filepath.Join("testdata", "envelopes.golden.json")
		all := map[string]any{}
		if raw, err := os.ReadFile(path); err == nil {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&all); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		if *update {
			for k, v := range got {
				all[k] = v
			}
			raw, _ := json.MarshalIndent(all, "", "  ")
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		for k, v := range got {
			want, ok := all[k]
			if !ok {
				t.Errorf("%s: no golden envelope %q (run go test -update)", path, k)
				continue
			}
			gotRaw, _ := json.Marshal(v)
			wantRaw, _ := json.Marshal(want)
			if !bytes.Equal(gotRaw, wantRaw) {
				t.Errorf("envelope %q of %s changed:\n got %s\nwant %s", k, c.Name, gotRaw, wantRaw)
			}
		}
	})
	return got
}
