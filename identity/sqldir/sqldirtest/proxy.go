package sqldirtest

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// Proxy stands between a directory and its database, so a test can make
// the database vanish (connections refused), hang (accepted, nothing
// answered) or come back, without touching the server other tests use.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   proxyMode
	conns  []net.Conn
}

type proxyMode int

const (
	forward proxyMode = iota
	refuse
	hang
)

// Target is the address of the driver's test server.
func Target(driver string) string {
	return map[string]string{"postgres": "127.0.0.1:5432", "mysql": "127.0.0.1:3306"}[driver]
}

// NewProxy forwards a loopback port to the driver's test server until the
// test ends.
func NewProxy(t testing.TB, driver string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: Target(driver)}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// DSN is the driver's test DSN through the proxy.
func (p *Proxy) DSN(driver string) string {
	return strings.Replace(DSN(driver), p.target, p.ln.Addr().String(), 1)
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode != refuse {
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		switch mode {
		case refuse:
			c.Close()
			continue
		case hang:
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Refuse drops every connection and closes new ones at once: a database
// that is down.
func (p *Proxy) Refuse() { p.set(refuse) }

// Hang drops every connection and answers new ones with silence.
func (p *Proxy) Hang() { p.set(hang) }

// Resume forwards new connections again: the database is back.
func (p *Proxy) Resume() { p.set(forward) }

func (p *Proxy) set(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	if m != forward {
		p.cut()
	}
}

func (p *Proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
