// Package framing refuses HTTP/1.1 requests whose framing two parsers
// could read differently (RFC 9112 §6.3, §2.2, §5.2), before Go's server
// reads them: both Content-Length and Transfer-Encoding, Content-Length
// twice, a Transfer-Encoding other than one lone "chunked", obsolete line
// folding, whitespace before a field's colon, a bare LF, and a chunk size
// line that is over-long or not hex. Go's own parser refuses some of them
// but reads others (it drops Content-Length beside chunked, folds lines,
// takes a bare LF): behind a front proxy that reads them the other way,
// that is request smuggling. Go's server offers no hook where it parses,
// so the guard sits on the connection: it follows every request on it
// (head, then body by its Content-Length or chunks) and hands Go a head
// only once it has read and checked it whole.
//
// A refused request is answered 400 with "Connection: close" when it is
// the connection's first (nothing else can be writing to it), and the
// connection is closed in every case. A connection that upgrades (an
// Upgrade request, CONNECT) is followed no further. The guard reads
// plaintext HTTP/1: on a TLS listener, TLSListener guards each connection
// after its handshake (HTTP/2 ones are left to the server).
package framing

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxChunkLine bounds a chunk-size line with its extensions; maxHexDigits
// a chunk size (16 hex digits fill 64 bits).
const (
	maxChunkLine = 4096
	maxHexDigits = 16
)

// ErrRefused is what a refused connection's Read returns.
var ErrRefused = errors.New("framing: request refused (ambiguous HTTP/1.1 framing)")

// Listener guards every connection it accepts; maxHead bounds a head (a
// longer one is left to the server, which refuses it as too large), and
// refused is called with the reason of each refusal (for a metric and a
// log line; may be nil).
func Listener(ln net.Listener, maxHead int, refused func(reason string)) net.Listener {
	if refused == nil {
		refused = func(string) {}
	}
	return &listener{Listener: ln, maxHead: maxHead, refused: refused}
}

type listener struct {
	net.Listener
	maxHead int
	refused func(string)
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Guard(c, l.maxHead, l.refused), nil
}

// Guard guards one connection whose bytes are plaintext HTTP/1 (a TLS
// connection after its handshake, say).
func Guard(c net.Conn, maxHead int, refused func(reason string)) net.Conn {
	if refused == nil {
		refused = func(string) {}
	}
	return &conn{Conn: c, maxHead: maxHead, refused: refused}
}

// state is where in the stream of requests the guard is.
type state int

const (
	inHead     state = iota // reading a head, held back until whole
	inBody                  // remaining bytes of a Content-Length body
	inChunks                // a chunk-size line
	inChunk                 // chunk data
	inChunkEnd              // the CRLF after chunk data
	inTrailer               // trailer lines up to the empty line
	through                 // not HTTP/1 any more (upgraded), or past maxHead
)

type conn struct {
	net.Conn
	maxHead int
	refused func(string)

	state   state
	pending []byte // checked bytes not yet handed to the server
	raw     []byte // read but not yet checked
	left    int64  // body or chunk data bytes left
	heads   int    // heads handed to the server so far
	failed  atomic.Bool
	readErr error
	buf     []byte
}

// Read hands the server checked bytes only. Body bytes whose length is
// known, and everything after an upgrade, go straight through.
func (c *conn) Read(p []byte) (int, error) {
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		switch {
		case c.failed.Load():
			return 0, ErrRefused
		case c.readErr != nil:
			return 0, c.readErr
		case len(c.raw) == 0 && (c.state == through || c.state == inBody && len(p) > 0):
			limit := len(p)
			if c.state == inBody && int64(limit) > c.left {
				limit = int(c.left)
			}
			n, err := c.Conn.Read(p[:limit])
			if c.state == inBody {
				if c.left -= int64(n); c.left == 0 {
					c.state = inHead
				}
			}
			if err != nil && !isTimeout(err) {
				c.readErr = err
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if c.buf == nil {
			c.buf = make([]byte, 16<<10)
		}
		n, err := c.Conn.Read(c.buf)
		c.raw = append(c.raw, c.buf[:n]...)
		if reason := c.advance(); reason != "" {
			c.refuse(reason)
			return 0, ErrRefused
		}
		switch {
		case err == nil:
		case isTimeout(err):
			// A deadline (the server interrupts its background read with
			// one) is not the end of the connection: said once, not kept.
			if len(c.pending) == 0 {
				return 0, err
			}
		default:
			// A head cut short is not handed on: the server sees the end.
			c.readErr = err
			if c.state != inHead {
				c.pass(len(c.raw))
			}
		}
	}
}

// isTimeout reports a deadline that passed: the server interrupts its
// background read with one at the end of every request, so this runs once
// a request (errors.As into a net.Error allocated each time).
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// refuse answers a first request 400 and closes the connection.
func (c *conn) refuse(reason string) {
	c.failed.Store(true)
	c.refused(reason)
	if c.heads == 0 {
		body := `{"error":"malformed HTTP/1.1 request: ` + reason + `"}`
		_, _ = c.Conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	}
	_ = c.Conn.Close()
}

// advance checks what it can of raw, moving checked bytes to pending; a
// non-empty answer is the reason to refuse.
func (c *conn) advance() string {
	for len(c.raw) > 0 {
		switch c.state {
		case through:
			c.pass(len(c.raw))
		case inHead:
			end, reason := headEnd(c.raw)
			if reason != "" {
				return reason
			}
			if end < 0 {
				if len(c.raw) > c.maxHead {
					c.state = through
					continue
				}
				return ""
			}
			next, reason := checkHead(c.raw[:end])
			if reason != "" {
				return reason
			}
			c.pass(end)
			c.heads++
			c.state, c.left = next.state, next.length
		case inBody:
			c.passLeft(inHead)
		case inChunks:
			line, reason := c.line("chunk size line too long")
			if reason != "" || line == nil {
				return reason
			}
			size, reason := chunkSize(line)
			if reason != "" {
				return reason
			}
			c.pass(len(line))
			if size == 0 {
				c.state = inTrailer
			} else {
				c.state, c.left = inChunk, size
			}
		case inChunk:
			c.passLeft(inChunkEnd)
		case inChunkEnd:
			if len(c.raw) < 2 {
				if c.raw[0] != '\r' {
					return "chunk data not followed by CRLF"
				}
				return ""
			}
			if c.raw[0] != '\r' || c.raw[1] != '\n' {
				return "chunk data not followed by CRLF"
			}
			c.pass(2)
			c.state = inChunks
		case inTrailer:
			line, reason := c.line("trailer line too long")
			if reason != "" || line == nil {
				return reason
			}
			if len(line) < 2 || line[len(line)-2] != '\r' {
				return "bare LF"
			}
			c.pass(len(line))
			if len(line) == 2 {
				c.state = inHead
			}
		}
	}
	return ""
}

// passLeft hands on what raw holds of the c.left bytes still to come;
// once they are all through, the state becomes then.
func (c *conn) passLeft(then state) {
	n := int(min(c.left, int64(len(c.raw))))
	c.pass(n)
	if c.left -= int64(n); c.left == 0 {
		c.state = then
	}
}

// line is raw's next whole line with its LF, or nil while it is
// incomplete; one longer than maxChunkLine is refused as tooLong.
func (c *conn) line(tooLong string) ([]byte, string) {
	i := bytes.IndexByte(c.raw, '\n')
	if i < 0 {
		if len(c.raw) > maxChunkLine {
			return nil, tooLong
		}
		return nil, ""
	}
	return c.raw[:i+1], ""
}

// pass moves the first n raw bytes to pending. While pending is empty
// they are not copied: pending takes raw's bytes in place (raw only ever
// grows past them).
func (c *conn) pass(n int) {
	if len(c.pending) == 0 {
		c.pending = c.raw[:n:n]
	} else {
		c.pending = append(c.pending, c.raw[:n]...)
	}
	c.raw = c.raw[n:]
}

// headEnd is the length of the head at the start of b with its empty
// line, or -1 while it is incomplete; a bare LF is refused at once.
func headEnd(b []byte) (int, string) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i == 0 || b[i-1] != '\r' {
			return 0, "bare LF"
		}
		if i >= 3 && b[i-2] == '\n' && b[i-3] == '\r' {
			return i + 1, ""
		}
	}
	return -1, ""
}

// framingOf is how a head's body is framed.
type framingOf struct {
	state  state
	length int64
}

// checkHead checks a whole head (CRLF-terminated lines, the empty one
// last) and says how its body is framed. It walks the bytes without
// copying them: it runs once per request.
func checkHead(head []byte) (framingOf, string) {
	head = bytes.TrimSuffix(head, []byte("\r\n\r\n"))
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	http10 := bytes.HasSuffix(line, []byte("HTTP/1.0"))
	upgrade := bytes.HasPrefix(line, []byte("CONNECT "))
	var cl, te []byte
	nCL, nTE := 0, 0
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return framingOf{}, "obsolete line folding"
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			// The server refuses a line without a colon.
			continue
		}
		if n := len(name); n > 0 && (name[n-1] == ' ' || name[n-1] == '\t') {
			return framingOf{}, "whitespace before a field's colon"
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			nCL++
			cl = bytes.TrimSpace(value)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			nTE++
			te = bytes.TrimSpace(value)
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = true
		}
	}
	switch {
	case nCL > 0 && nTE > 0:
		return framingOf{}, "both Content-Length and Transfer-Encoding"
	case nCL > 1:
		return framingOf{}, "Content-Length more than once"
	case nTE > 1 || nTE == 1 && !bytes.EqualFold(te, []byte("chunked")):
		return framingOf{}, "Transfer-Encoding other than one chunked"
	case nTE == 1 && http10:
		return framingOf{}, "Transfer-Encoding on HTTP/1.0"
	case upgrade:
		return framingOf{state: through}, ""
	case nTE == 1:
		return framingOf{state: inChunks}, ""
	case nCL == 1:
		n, ok := decimal(cl)
		if !ok {
			return framingOf{}, "Content-Length not a number"
		}
		if n == 0 {
			return framingOf{state: inHead}, ""
		}
		return framingOf{state: inBody, length: n}, ""
	}
	return framingOf{state: inHead}, ""
}

// decimal reads a Content-Length: digits only, no sign, at most 18 of
// them (no overflow).
func decimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// chunkSize reads a chunk-size line (with its CRLF).
func chunkSize(line []byte) (int64, string) {
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, "bare LF"
	}
	s := string(line[:len(line)-2])
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, " \t")
	if s == "" || len(s) > maxHexDigits {
		return 0, "chunk size over-long or missing"
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil || n > 1<<62 {
		return 0, "chunk size not hex"
	}
	return int64(n), ""
}

// TLSListener terminates TLS on ln's connections itself, so that an
// HTTP/1.1 connection can be guarded on its plaintext: each handshake runs
// in a goroutine of its own, bounded by handshakeTimeout (a slow client
// does not hold up the others); a connection that negotiated h2 is
// handed to the server as the *tls.Conn it needs for HTTP/2, and any other
// guarded, still telling its TLS state (ConnectionState) to whoever asks.
func TLSListener(ln net.Listener, cfg *tls.Config, handshakeTimeout time.Duration, maxHead int, refused func(reason string)) net.Listener {
	t := &tlsListener{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go t.acceptLoop(cfg, handshakeTimeout, maxHead, refused)
	return t
}

type tlsListener struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	err   atomic.Pointer[error]
	once  sync.Once
}

func (t *tlsListener) acceptLoop(cfg *tls.Config, timeout time.Duration, maxHead int, refused func(string)) {
	for {
		raw, err := t.Listener.Accept()
		if err != nil {
			t.err.Store(&err)
			t.once.Do(func() { close(t.done) })
			return
		}
		go func() {
			tc := tls.Server(raw, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				_ = raw.Close()
				return
			}
			var c net.Conn = tc
			if tc.ConnectionState().NegotiatedProtocol != "h2" {
				c = &tlsGuarded{Conn: Guard(tc, maxHead, refused), state: tc.ConnectionState()}
			}
			select {
			case t.conns <- c:
			case <-t.done:
				_ = c.Close()
			}
		}()
	}
}

// Accept implements net.Listener.
func (t *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.done:
		return nil, *t.err.Load()
	}
}

// Close implements net.Listener.
func (t *tlsListener) Close() error {
	err := t.Listener.Close()
	t.once.Do(func() {
		e := net.ErrClosed
		t.err.Store(&e)
		close(t.done)
	})
	return err
}

// tlsGuarded is a guarded TLS connection that still tells its state.
type tlsGuarded struct {
	net.Conn
	state tls.ConnectionState
}

// ConnectionState is the TLS state of the connection's handshake.
func (c *tlsGuarded) ConnectionState() tls.ConnectionState { return c.state }
