// Package jsonhttp holds what the gateway's calls to a legacy service's
// JSON endpoints share (the http user directory, legacy token
// introspection): the HTTP client with the service's CA and a client
// certificate, and reading fields of an answer by dotted path.
package jsonhttp

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TLS are the TLS files of calls to a legacy service; embed it in a config
// block with `koanf:",squash"`.
type TLS struct {
	// CAFile trusts the legacy service's CA; CertFile and KeyFile are a
	// client certificate for mutual TLS. Relative to the config file.
	CAFile   string `koanf:"ca_file"`
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Call is how the gateway calls a legacy service, the same keys wherever
// it does (identity.http, legacy.introspect): embed it with
// `koanf:",squash"`.
type Call struct {
	// Headers go with every call; AuthTokenEnv, when set, names the
	// environment variable whose value goes as Authorization: Bearer (the
	// gateway's own credential at the legacy service).
	Headers      map[string]string `koanf:"headers"`
	AuthTokenEnv string            `koanf:"auth_token_env"`
	// Timeout bounds one call; past it the legacy service is unavailable
	// and the request is answered with the dialect's unavailable code.
	Timeout time.Duration `koanf:"timeout"`
	// TLS: ca_file, cert_file and key_file.
	TLS `koanf:",squash"`
}

// NewClient is the client of a legacy service: TLS 1.2+, t's CA and
// client certificate (files relative to dir), the whole call bounded by
// timeout. Problems name their key (ca_file, cert_file).
func NewClient(t TLS, timeout time.Duration, dir string) (*http.Client, []error) {
	var errs []error
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	path := func(p string) string {
		if p != "" && !filepath.IsAbs(p) {
			return filepath.Join(dir, p)
		}
		return p
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(path(t.CAFile))
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("ca_file: %s holds no PEM certificate (%v)", t.CAFile, err))
		}
		conf.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("cert_file: set both cert_file and key_file, or neither"))
	} else if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(path(t.CertFile), path(t.KeyFile))
		if err != nil {
			errs = append(errs, fmt.Errorf("cert_file: %w", err))
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: conf, MaxIdleConnsPerHost: 16}}, errs
}

// At reads a dotted path ("data.user.id") of a JSON answer; nil when any
// step is missing.
func At(v map[string]any, path string) any {
	if path == "" {
		return nil
	}
	var cur any = v
	for p := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// Str renders a JSON value read with At as a string ("" for none).
func Str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}

// Service is how the gateway calls one legacy service: the client (TLS,
// timeout), the headers every call carries and the gateway's own bearer
// credential there (from an environment variable).
type Service struct {
	client  *http.Client
	headers map[string]string
	bearer  string
}

// NewService builds a Service. tokenKey is the config key naming the
// credential's environment variable (token_env), for the problem when it
// is not set; tokenEnv empty means no credential.
func NewService(t TLS, timeout time.Duration, dir string, headers map[string]string, tokenKey, tokenEnv string, lookupEnv func(string) (string, bool)) (*Service, []error) {
	client, errs := NewClient(t, timeout, dir)
	s := &Service{client: client, headers: headers}
	if tokenEnv != "" {
		v, ok := lookupEnv(tokenEnv)
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("%s: environment variable %s is not set", tokenKey, tokenEnv))
		}
		s.bearer = v
	}
	return s, errs
}

// Do sends req with the service's headers and bearer credential; a header
// the request already carries (its own Authorization) is left as it is.
func (s *Service) Do(req *http.Request) (*http.Response, error) {
	for k, v := range s.headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	if s.bearer != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	return s.client.Do(req)
}
