package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// Echo is the built-in `echo` target: a RoundTripper that answers every
// request, in process, with JSON of what it received. It sits behind the
// same ReverseProxy as a real backend, so what it shows is exactly what a
// backend would get: quick starts and diagnostics need no second process.
type Echo struct{}

// EchoReply is the echo target's answer.
type EchoReply struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     string              `json:"query"`
	Host      string              `json:"host"`
	Headers   map[string][]string `json:"headers"`
	BodyBytes int64               `json:"body_bytes"`
}

// RoundTrip implements http.RoundTripper.
func (Echo) RoundTrip(r *http.Request) (*http.Response, error) {
	var n int64
	if r.Body != nil {
		n, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	headers := map[string][]string(r.Header.Clone())
	if headers == nil {
		headers = map[string][]string{}
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	body, err := json.Marshal(EchoReply{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: host,
		Headers: headers, BodyBytes: n,
	})
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"Content-Length": {strconv.Itoa(len(body))},
		},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}
