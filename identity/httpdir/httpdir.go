// Package httpdir is the `http` user directory: where the legacy service
// must stay the only one that touches its user database, the gateway asks
// it. A password check is a POST to its check endpoint; lookups (the
// gateway re-validates users on refresh) a GET of its lookup endpoint;
// registering a mobile user, optionally, a POST of its register endpoint.
// Field names, in the request and in the answer, are configurable.
package httpdir

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

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/jsonhttp"
)

// Config is the identity.http block.
type Config struct {
	// CheckURL gets POST {account, password} (field names below).
	CheckURL string `koanf:"check_url"`
	// LookupURL gets GET ?id=, ?account= or ?mobile=: 200 and the user,
	// 404 for none.
	LookupURL string `koanf:"lookup_url"`
	// RegisterURL, when set, gets POST {mobile, source, name} for a new
	// number's first SMS login and answers the user (200 or 201; 409 and
	// the user when the number exists).
	RegisterURL string `koanf:"register_url"`
	// Call is headers, auth_token_env, timeout, ca_file, cert_file and
	// key_file, as for legacy.introspect.
	jsonhttp.Call `koanf:",squash"`
	// TokenEnv is the earlier spelling of auth_token_env, deprecated:
	// still read, with a warning to rename it.
	TokenEnv string `koanf:"token_env"`
	// Fields are the names of the request's fields and the paths of the
	// answer's.
	Fields Fields `koanf:"fields"`
}

// Fields name the request's fields and where, in the answer, the user's
// are (dotted paths into the JSON: "data.user.id").
type Fields struct {
	// Account and Password name the check request's JSON fields.
	Account  string `koanf:"account"`
	Password string `koanf:"password"`
	// ID, AccountOut, Name, NickName, Mobile, AvatarURL, Companies and
	// DefaultCompany are the paths of the user's facts in an answer
	// (Companies a JSON array of company ids).
	ID             string `koanf:"id"`
	AccountOut     string `koanf:"account_out"`
	Name           string `koanf:"name"`
	NickName       string `koanf:"nick_name"`
	Mobile         string `koanf:"mobile"`
	AvatarURL      string `koanf:"avatar_url"`
	Companies      string `koanf:"companies"`
	DefaultCompany string `koanf:"default_company"`
	// The bov3 dialect's profile; no bo_user_id, no bo login. Lists are
	// JSON arrays or comma-separated strings.
	BOUserID   string `koanf:"bo_user_id"`
	BOClientID string `koanf:"bo_client_id"`
	BOPushName string `koanf:"bo_push_name"`
	BORoles    string `koanf:"bo_roles"`
	BOOwners   string `koanf:"bo_owners"`
	// Code and CodeOK, when set, make a 2xx answer an acceptance only when
	// the field at Code holds CodeOK (services that answer every failure
	// with 200 and a code); any other value is a wrong password.
	Code   string `koanf:"code"`
	CodeOK string `koanf:"code_ok"`
}

// Defaults are the values of keys the block leaves out.
func Defaults() Config {
	return Config{Call: jsonhttp.Call{Timeout: 3 * time.Second}, Fields: Fields{Account: "account", Password: "password", ID: "id",
		AccountOut: "account", Name: "name", NickName: "nick_name", Mobile: "mobile", AvatarURL: "avatar_url",
		Companies: "companies", DefaultCompany: "default_company"}}
}

// Dir is the http directory.
type Dir struct {
	cfg Config
	svc *jsonhttp.Service
}

type registering struct{ *Dir }

var (
	_ identity.Directory = (*Dir)(nil)
	_ identity.Registrar = registering{}
)

// Warnings are what in the block works but should change: the
// deprecated token_env, each naming its key relative to the block.
func (c Config) Warnings() []string {
	if c.TokenEnv != "" {
		return []string{"token_env: deprecated: rename it auth_token_env (one name for the gateway's credential at the legacy service, as in legacy.introspect)"}
	}
	return nil
}

// Open checks the block and builds the client. dir resolves relative
// files; lookupEnv reads AuthTokenEnv.
func Open(cfg Config, dir string, lookupEnv func(string) (string, bool)) (identity.Directory, error) {
	var errs []error
	for key, u := range map[string]string{"check_url": cfg.CheckURL, "lookup_url": cfg.LookupURL, "register_url": cfg.RegisterURL} {
		if u == "" && key == "register_url" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL (required; the gateway re-validates users on refresh through lookup_url)", key, u))
		}
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	tokenKey, tokenEnv := "auth_token_env", cfg.AuthTokenEnv
	switch {
	case cfg.TokenEnv != "" && cfg.AuthTokenEnv != "" && cfg.TokenEnv != cfg.AuthTokenEnv:
		errs = append(errs, fmt.Errorf("token_env: the deprecated spelling of auth_token_env, set to another variable (%s, %s); keep auth_token_env only", cfg.TokenEnv, cfg.AuthTokenEnv))
	case tokenEnv == "":
		tokenKey, tokenEnv = "token_env", cfg.TokenEnv
	}
	svc, svcErrs := jsonhttp.NewService(cfg.TLS, cfg.Timeout, dir, cfg.Headers, tokenKey, tokenEnv, lookupEnv)
	errs = append(errs, svcErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d := &Dir{cfg: cfg, svc: svc}
	if cfg.RegisterURL != "" {
		return registering{d}, nil
	}
	return d, nil
}

// call sends one request and decodes a JSON answer; it never retries (a
// password check is not idempotent to a lockout counter). Within a sampled
// trace it is a client span, directory.query, naming the call (check,
// by_id, by_account, by_mobile, register), never its values: a lookup's
// URL carries the account.
func (d *Dir) call(ctx context.Context, query, method, u string, body any) (_ int, _ map[string]any, err error) {
	ctx, span := otel.Tracer("github.com/authgate/authgate/identity/httpdir").Start(ctx, "directory.query",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("authgate.query", query)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "directory unavailable")
		}
		span.End()
	}()
	var rdr io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rdr = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rdr)
	if err != nil {
		return 0, nil, unavailable(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.svc.Do(req)
	if err != nil {
		return 0, nil, unavailable(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, unavailable(err)
	}
	var out map[string]any
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			return 0, nil, unavailable(fmt.Errorf("answer %d is not a JSON object: %w", resp.StatusCode, err))
		}
	}
	return resp.StatusCode, out, nil
}

func unavailable(err error) error {
	return fmt.Errorf("httpdir: %w: %w", identity.ErrUnavailable, err)
}

// list reads a list: a JSON array, or a comma-separated string.
func list(v any) []string {
	var out []string
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			out = append(out, jsonhttp.Str(x))
		}
	case string:
		for p := range strings.SplitSeq(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// user reads the answer's user fields.
func (d *Dir) user(v map[string]any) (identity.User, error) {
	f := d.cfg.Fields
	id, err := strconv.ParseInt(jsonhttp.Str(jsonhttp.At(v, f.ID)), 10, 64)
	if err != nil || id <= 0 {
		return identity.User{}, unavailable(fmt.Errorf("the answer has no integer user id at %q", f.ID))
	}
	u := identity.User{ID: id, Account: jsonhttp.Str(jsonhttp.At(v, f.AccountOut)), Name: jsonhttp.Str(jsonhttp.At(v, f.Name)), NickName: jsonhttp.Str(jsonhttp.At(v, f.NickName)),
		Mobile: jsonhttp.Str(jsonhttp.At(v, f.Mobile)), AvatarURL: jsonhttp.Str(jsonhttp.At(v, f.AvatarURL))}
	if list, ok := jsonhttp.At(v, f.Companies).([]any); ok {
		for _, c := range list {
			if n, err := strconv.ParseInt(jsonhttp.Str(c), 10, 64); err == nil {
				u.Companies = append(u.Companies, n)
			}
		}
	}
	if bo := jsonhttp.Str(jsonhttp.At(v, f.BOUserID)); bo != "" {
		p := identity.Profile{"user_id": {bo}, "role_id": list(jsonhttp.At(v, f.BORoles)), "owners": list(jsonhttp.At(v, f.BOOwners))}
		for field, at := range map[string]string{"client_id": f.BOClientID, "push_name": f.BOPushName} {
			if s := jsonhttp.Str(jsonhttp.At(v, at)); s != "" {
				p[field] = []string{s}
			}
		}
		u.Profiles = map[string]identity.Profile{"bo": p}
	}
	if n, err := strconv.ParseInt(jsonhttp.Str(jsonhttp.At(v, f.DefaultCompany)), 10, 64); err == nil {
		u.DefaultCompany = n
	} else if len(u.Companies) > 0 {
		u.DefaultCompany = u.Companies[0]
	}
	return u, nil
}

// Authenticate implements identity.Directory: 2xx (and the configured
// body code) is an acceptance, 401 and 403 a wrong password, anything
// else the directory being unavailable.
func (d *Dir) Authenticate(ctx context.Context, account, password string) (identity.User, error) {
	status, v, err := d.call(ctx, "check", http.MethodPost, d.cfg.CheckURL, map[string]string{d.cfg.Fields.Account: account, d.cfg.Fields.Password: password})
	switch {
	case err != nil:
		return identity.User{}, err
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return identity.User{}, identity.ErrBadCredentials
	case status/100 != 2:
		return identity.User{}, unavailable(fmt.Errorf("check answered %d", status))
	case d.cfg.Fields.Code != "" && jsonhttp.Str(jsonhttp.At(v, d.cfg.Fields.Code)) != d.cfg.Fields.CodeOK:
		return identity.User{}, identity.ErrBadCredentials
	}
	return d.user(v)
}

func (d *Dir) lookup(ctx context.Context, key, value string) (identity.User, error) {
	u, err := url.Parse(d.cfg.LookupURL)
	if err != nil {
		return identity.User{}, unavailable(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	status, v, err := d.call(ctx, "by_"+key, http.MethodGet, u.String(), nil)
	switch {
	case err != nil:
		return identity.User{}, err
	case status == http.StatusNotFound:
		return identity.User{}, identity.ErrNotFound
	case status/100 != 2:
		return identity.User{}, unavailable(fmt.Errorf("lookup answered %d", status))
	}
	return d.user(v)
}

// ByID implements identity.Directory.
func (d *Dir) ByID(ctx context.Context, id int64) (identity.User, error) {
	return d.lookup(ctx, "id", strconv.FormatInt(id, 10))
}

// ByAccount implements identity.Directory.
func (d *Dir) ByAccount(ctx context.Context, account string) (identity.User, error) {
	return d.lookup(ctx, "account", account)
}

// ByMobile implements identity.Directory.
func (d *Dir) ByMobile(ctx context.Context, mobile string) (identity.User, error) {
	return d.lookup(ctx, "mobile", mobile)
}

// RegisterMobile implements identity.Registrar: 201 created, 200 or 409
// the number's existing user.
func (r registering) RegisterMobile(ctx context.Context, reg identity.Registration) (identity.User, bool, error) {
	status, v, err := r.call(ctx, "register", http.MethodPost, r.cfg.RegisterURL, map[string]string{"mobile": reg.Mobile, "source": reg.Source, "name": reg.Name})
	if err != nil {
		return identity.User{}, false, err
	}
	if status/100 != 2 && status != http.StatusConflict {
		return identity.User{}, false, unavailable(fmt.Errorf("register answered %d", status))
	}
	u, err := r.user(v)
	return u, status == http.StatusCreated, err
}
