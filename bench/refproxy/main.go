// Command refproxy is the reference of the load runs in bench/: a bare
// httputil.ReverseProxy with a tuned transport and pooled copy buffers, as
// the gateway's own (C, the cost every ratio is taken against): what
// forwarding alone costs, without any auth.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof"
	"net/url"
	"sync"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18070", "address to listen on")
	target := flag.String("upstream", "http://127.0.0.1:18090", "where to forward")
	debug := flag.String("pprof", "", "an address to serve net/http/pprof on (loadbench -profile), none when empty")
	flag.Parse()
	if *debug != "" {
		// A listener of its own, as the gateway's admin one: the proxied
		// path stays the bare proxy.
		go func() { log.Fatal(http.ListenAndServe(*debug, http.DefaultServeMux)) }()
	}
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatal(err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64 // as the gateway's transport
	p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }, Transport: t, BufferPool: pool{}}
	log.Fatal(http.ListenAndServe(*addr, p))
}

// pool lends ReverseProxy its 32 KiB copy buffers, which it otherwise
// allocates per request.
type pool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (pool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (pool) Put(b []byte) { buffers.Put(&b) }
