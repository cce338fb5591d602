// Package introspect asks a legacy auth service whether one of its opaque
// tokens is genuine and whose it is, for the switch-over: a dialect whose
// legacy refresh tokens the gateway cannot verify itself (bov3, appkey,
// mobile) exchanges one for a gateway session only after the legacy
// service said yes. By default the call is RFC 7662's (POST a form with
// token=..., read "active", "sub" and "exp"); where the token goes and
// where the answer names the user are configurable.
//
// Answers are never cached: a token is introspected when it is presented
// for exchange, and the exchange itself is what the gateway remembers.
package introspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/jsonhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrNotGenuine is the legacy service's no: the token is unknown, expired
// or revoked there (401, 403, 404, or an answer that is not active), or
// it was issued by another issuer, to another client or for another
// audience than Require names.
var ErrNotGenuine = errors.New("introspect: the legacy service does not know the token")

// ErrNotRefresh is a genuine token of another kind: the answer's
// token_type names an access token (or anything but a refresh token). An
// access token travels on every request and sits in backend logs; it is
// never exchanged for a session.
var ErrNotRefresh = errors.New("introspect: the legacy service says the token is not a refresh token")

// Config is a dialect's `legacy.introspect` block.
type Config struct {
	// URL is the legacy service's introspection endpoint.
	URL string `koanf:"url"`
	// Method is POST or GET.
	Method string `koanf:"method"`
	// TokenIn is where the token goes: form (a POST form field), query
	// (a query parameter), json (a field of a JSON body) or header; TokenName
	// names the field, parameter or header (a header named Authorization
	// gets "Bearer <token>").
	TokenIn   string `koanf:"token_in"`
	TokenName string `koanf:"token_name"`
	// TokenTypeHint goes beside the token as token_type_hint (RFC 7662
	// §2.1: a form field; a query parameter or JSON member where the token
	// goes there; not sent with token_in header); empty sends none.
	TokenTypeHint string `koanf:"token_type_hint"`
	// RefreshTypes are the answer's token_type values that name a refresh
	// token; an answer with another token_type is refused for exchange,
	// one without it is taken as the refresh token it was asked about.
	RefreshTypes []string `koanf:"refresh_types"`
	// Require are values the answer must hold, when set: the issuer
	// (fields.issuer), the client the token was issued to
	// (fields.client_id) and its audience (fields.aud, a string or an
	// array holding it). An introspection service that answers for several
	// issuers says "active" for each of them's tokens (Apache APISIX
	// CVE-2025-46647): require.issuer keeps the exchange to the one this
	// dialect's sessions belong to.
	Require Require `koanf:"require"`
	// Call is headers, auth_token_env (not with token_in header
	// Authorization), timeout, ca_file, cert_file and key_file.
	jsonhttp.Call `koanf:",squash"`
	// Fields are where, in the answer, its facts are (dotted paths).
	Fields Fields `koanf:"fields"`
}

// Fields locate the answer's facts.
type Fields struct {
	// Active, when set, must hold true (a JSON true or "true").
	Active string `koanf:"active"`
	// Subject is whose the token is: the user id, account or app id the
	// dialect's sessions name.
	Subject string `koanf:"subject"`
	// Expires, when set and present, is the token's expiry in unix
	// seconds; without it the dialect's refresh_ttl from now is assumed.
	Expires string `koanf:"expires"`
	// TokenType is the token's kind (RFC 7662's token_type).
	TokenType string `koanf:"token_type"`
	// Issuer, ClientID and Aud are where Require's values are read.
	Issuer   string `koanf:"issuer"`
	ClientID string `koanf:"client_id"`
	Aud      string `koanf:"aud"`
}

// Require are values an answer must hold for the token to be exchanged.
type Require struct {
	// Issuer, ClientID and Aud, when set, must be the answer's issuer
	// (fields.issuer), client (fields.client_id) and one of its
	// audiences (fields.aud).
	Issuer   string `koanf:"issuer"`
	ClientID string `koanf:"client_id"`
	Aud      string `koanf:"aud"`
}

// Defaults are RFC 7662's.
func Defaults() Config {
	return Config{Method: http.MethodPost, TokenIn: "form", TokenName: "token", Call: jsonhttp.Call{Timeout: 3 * time.Second},
		TokenTypeHint: "refresh_token", RefreshTypes: []string{"refresh_token"},
		Fields: Fields{Active: "active", Subject: "sub", Expires: "exp", TokenType: "token_type", Issuer: "iss", ClientID: "client_id", Aud: "aud"}}
}

// Answer is the legacy service's yes.
type Answer struct {
	// Subject is whose the token is.
	Subject string
	// Expires is the token's expiry; zero when the answer does not say.
	Expires time.Time
}

// Client introspects tokens at one legacy service.
type Client struct {
	cfg Config
	svc *jsonhttp.Service
}

// Open checks the block and builds the client, as every backend of the
// gateway is opened; problems name their key relative to the block. dir
// resolves relative files; lookupEnv reads AuthTokenEnv.
func Open(cfg Config, dir string, lookupEnv func(string) (string, bool)) (*Client, error) {
	var errs []error
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", cfg.URL))
	}
	switch cfg.Method {
	case http.MethodPost, http.MethodGet:
	default:
		errs = append(errs, fmt.Errorf("method: %q is not one of POST, GET", cfg.Method))
	}
	switch cfg.TokenIn {
	case "form", "json":
		if cfg.Method != http.MethodPost {
			errs = append(errs, fmt.Errorf("token_in: %s needs method POST", cfg.TokenIn))
		}
	case "query", "header":
	default:
		errs = append(errs, fmt.Errorf("token_in: %q is not one of form, query, json, header", cfg.TokenIn))
	}
	if cfg.TokenName == "" {
		errs = append(errs, errors.New("token_name: required"))
	}
	if cfg.Fields.TokenType != "" && len(cfg.RefreshTypes) == 0 {
		errs = append(errs, errors.New("refresh_types: at least one token_type that names a refresh token (or fields.token_type: \"\" to not read it)"))
	}
	if cfg.Require.Issuer != "" && cfg.Fields.Issuer == "" {
		errs = append(errs, errors.New("fields.issuer: required with require.issuer"))
	}
	if cfg.Require.ClientID != "" && cfg.Fields.ClientID == "" {
		errs = append(errs, errors.New("fields.client_id: required with require.client_id"))
	}
	if cfg.Require.Aud != "" && cfg.Fields.Aud == "" {
		errs = append(errs, errors.New("fields.aud: required with require.aud"))
	}
	if cfg.Fields.Subject == "" {
		errs = append(errs, errors.New("fields.subject: required: where the answer names whose the token is"))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	svc, svcErrs := jsonhttp.NewService(cfg.TLS, cfg.Timeout, dir, cfg.Headers, "auth_token_env", cfg.AuthTokenEnv, lookupEnv)
	errs = append(errs, svcErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, svc: svc}
	return c, nil
}

// Introspect asks whether token is genuine and whose it is: an Answer,
// ErrNotGenuine, or an error wrapping identity.ErrUnavailable (the
// service did not answer, or not in a way that says yes or no), on which
// the dialect fails closed. It never retries.
func (c *Client) Introspect(ctx context.Context, token string) (_ Answer, err error) {
	ctx, span := otel.Tracer("github.com/authgate/authgate/dialects/introspect").Start(ctx, "legacy.introspect",
		trace.WithSpanKind(trace.SpanKindClient))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "not exchanged")
		}
		span.End()
	}()
	req, err := c.request(ctx, token)
	if err != nil {
		return Answer{}, unavailable(err)
	}
	resp, err := c.svc.Do(req)
	if err != nil {
		return Answer{}, unavailable(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Answer{}, unavailable(err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusNotFound:
		return Answer{}, ErrNotGenuine
	case resp.StatusCode/100 != 2:
		return Answer{}, unavailable(fmt.Errorf("introspection answered %d", resp.StatusCode))
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Answer{}, unavailable(fmt.Errorf("introspection answer is not a JSON object: %w", err))
	}
	f := c.cfg.Fields
	if f.Active != "" {
		if active := jsonhttp.At(v, f.Active); active != true && active != "true" {
			return Answer{}, ErrNotGenuine
		}
	}
	if f.TokenType != "" {
		if typ := jsonhttp.Str(jsonhttp.At(v, f.TokenType)); typ != "" && !slices.Contains(c.cfg.RefreshTypes, typ) {
			return Answer{}, fmt.Errorf("%w (token_type %q)", ErrNotRefresh, typ)
		}
	}
	if want := c.cfg.Require.Issuer; want != "" && jsonhttp.Str(jsonhttp.At(v, f.Issuer)) != want {
		return Answer{}, fmt.Errorf("%w: issued by another issuer than require.issuer", ErrNotGenuine)
	}
	if want := c.cfg.Require.ClientID; want != "" && jsonhttp.Str(jsonhttp.At(v, f.ClientID)) != want {
		return Answer{}, fmt.Errorf("%w: issued to another client than require.client_id", ErrNotGenuine)
	}
	if want := c.cfg.Require.Aud; want != "" && !hasAudience(jsonhttp.At(v, f.Aud), want) {
		return Answer{}, fmt.Errorf("%w: not for the audience require.aud", ErrNotGenuine)
	}
	a := Answer{Subject: jsonhttp.Str(jsonhttp.At(v, f.Subject))}
	if a.Subject == "" {
		return Answer{}, unavailable(fmt.Errorf("introspection answer has no subject at %q", f.Subject))
	}
	if exp := jsonhttp.Str(jsonhttp.At(v, f.Expires)); exp != "" {
		secs, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return Answer{}, unavailable(fmt.Errorf("introspection answer's expiry at %q is not unix seconds", f.Expires))
		}
		a.Expires = time.Unix(secs, 0)
	}
	return a, nil
}

// hasAudience reports whether an answer's aud, a string or an array of
// strings (RFC 7519 §4.1.3), holds want.
func hasAudience(aud any, want string) bool {
	switch v := aud.(type) {
	case string:
		return v == want
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// request builds the call, the token where the config puts it.
func (c *Client) request(ctx context.Context, token string) (*http.Request, error) {
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	contentType := ""
	switch c.cfg.TokenIn {
	case "form":
		form := url.Values{c.cfg.TokenName: {token}}
		if c.cfg.TokenTypeHint != "" {
			form.Set("token_type_hint", c.cfg.TokenTypeHint)
		}
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case "json":
		m := map[string]string{c.cfg.TokenName: token}
		if c.cfg.TokenTypeHint != "" {
			m["token_type_hint"] = c.cfg.TokenTypeHint
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(raw), "application/json"
	case "query":
		q := u.Query()
		q.Set(c.cfg.TokenName, token)
		if c.cfg.TokenTypeHint != "" {
			q.Set("token_type_hint", c.cfg.TokenTypeHint)
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cfg.TokenIn == "header" {
		v := token
		if http.CanonicalHeaderKey(c.cfg.TokenName) == "Authorization" {
			v = "Bearer " + token
		}
		req.Header.Set(c.cfg.TokenName, v)
	}
	return req, nil
}

func unavailable(err error) error {
	return fmt.Errorf("introspect: %w: %w", identity.ErrUnavailable, err)
}
