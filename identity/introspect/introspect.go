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
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/jsonhttp"
)

// ErrNotGenuine is the legacy service's no: the token is unknown, expired
// or revoked there (401, 403, 404, or an answer that is not active).
var ErrNotGenuine = errors.New("introspect: the legacy service does not know the token")

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
	// Headers go with every call; AuthTokenEnv, when set, names the
	// environment variable whose value goes as Authorization: Bearer (the
	// gateway's own credential at the legacy service; not with TokenIn
	// header Authorization).
	Headers      map[string]string `koanf:"headers"`
	AuthTokenEnv string            `koanf:"auth_token_env"`
	Timeout      time.Duration     `koanf:"timeout"`
	// TLS: ca_file, cert_file and key_file.
	jsonhttp.TLS `koanf:",squash"`
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
}

// Defaults are RFC 7662's.
func Defaults() Config {
	return Config{Method: http.MethodPost, TokenIn: "form", TokenName: "token", Timeout: 3 * time.Second,
		Fields: Fields{Active: "active", Subject: "sub", Expires: "exp"}}
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

// New checks the block and builds the client; problems name their key
// relative to the block. dir resolves relative files; lookupEnv reads
// AuthTokenEnv.
func New(cfg Config, dir string, lookupEnv func(string) (string, bool)) (*Client, error) {
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
func (c *Client) Introspect(ctx context.Context, token string) (Answer, error) {
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
		body, contentType = strings.NewReader(url.Values{c.cfg.TokenName: {token}}.Encode()), "application/x-www-form-urlencoded"
	case "json":
		raw, err := json.Marshal(map[string]string{c.cfg.TokenName: token})
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(raw), "application/json"
	case "query":
		q := u.Query()
		q.Set(c.cfg.TokenName, token)
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
