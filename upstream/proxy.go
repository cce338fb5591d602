package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Errors the proxy hands to its ErrorHandler, so the gateway can answer
// them in the route's dialect envelope.
var (
	// ErrUnavailable: the upstream could not be reached or broke off.
	ErrUnavailable = errors.New("upstream: unavailable")
	// ErrTimeout: the upstream did not answer within the route's timeout.
	ErrTimeout = errors.New("upstream: timed out")
	// ErrClientGone: the client went away before the answer.
	ErrClientGone = errors.New("upstream: client canceled")
)

// Options configures one route's proxy.
type Options struct {
	// Timeout bounds the wait for the upstream's response headers; a
	// response that has begun may stream for as long as it takes.
	Timeout time.Duration
	// StripPrefix is removed from the front of the path before forwarding.
	StripPrefix string
	// Rewrite runs after the proxy has set the target, the path and the
	// X-Forwarded-* headers; the gateway sets identity headers in it.
	Rewrite func(*httputil.ProxyRequest)
	// ErrorHandler answers a failed forward with one of ErrUnavailable,
	// ErrTimeout or ErrClientGone (wrapping the cause).
	ErrorHandler func(http.ResponseWriter, *http.Request, error)
	// Transport replaces the default transport; the echo target uses it.
	Transport http.RoundTripper
}

// Proxy forwards requests to one target. It is an http.Handler.
type Proxy struct {
	rp *httputil.ReverseProxy
}

// New returns a proxy to target ("http://host:port/base" or "echo").
func New(target string, o Options) (*Proxy, error) {
	var u *url.URL
	transport := o.Transport
	if target == "echo" {
		u = &url.URL{Scheme: "http", Host: "echo.authgate.internal"}
		if transport == nil {
			transport = Echo{}
		}
	} else {
		var err error
		u, err = url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("upstream: target must be \"echo\" or an http(s) URL with a host")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("upstream: target must not carry a query or fragment")
		}
	}
	if transport == nil {
		transport = NewTransport(o.Timeout)
	}
	errorHandler := o.ErrorHandler
	if errorHandler == nil {
		errorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), statusOf(err))
		}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			p := pr.In.URL.Path
			if o.StripPrefix != "" {
				p = "/" + strings.TrimPrefix(strings.TrimPrefix(p, o.StripPrefix), "/")
			}
			pr.Out.URL.Scheme = u.Scheme
			pr.Out.URL.Host = u.Host
			pr.Out.URL.Path = singleJoin(u.Path, p)
			pr.Out.URL.RawPath = ""
			pr.Out.Host = ""
			pr.SetXForwarded()
			if o.Rewrite != nil {
				o.Rewrite(pr)
			}
		},
		Transport:  transport,
		BufferPool: bufferPool{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			errorHandler(w, r, classify(r.Context(), err))
		},
	}
	return &Proxy{rp: rp}, nil
}

// NewTransport is the transport to a backend: the standard one, waiting at
// most timeout for response headers, keeping more idle connections per
// host than the default 2, since a gateway talks to few hosts a lot.
func NewTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = 64
	return t
}

// ServeHTTP forwards r.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

// copyBuffers are the 32 KiB buffers ReverseProxy copies bodies through;
// without a pool it allocates one per request.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

func singleJoin(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(p, "/")
}

func classify(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return errors.Join(ErrClientGone, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.Join(ErrTimeout, err)
	default:
		return errors.Join(ErrUnavailable, err)
	}
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrClientGone):
		return 499
	default:
		return http.StatusBadGateway
	}
}
