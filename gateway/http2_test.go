package gateway_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// h2Gateway serves a gateway over TLS with server lines of the test's
// own and opens an HTTP/2 connection to it by hand (preface and
// SETTINGS sent), for the attacks a client library would not make.
func h2Gateway(t *testing.T, server string) (addr string, conn *tls.Conn, fr *http2.Framer) {
	t.Helper()
	path := gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n" + server})
	selfSigned(t, filepath.Dir(path), 1)
	g := gatewaytest.Build(t, path, gateway.Options{})
	ln, _, cancel, served := serve(t, g)
	t.Cleanup(func() { cancel(); <-served })
	addr = ln.Addr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr = http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return addr, conn, fr
}

// TestHTTP2RapidReset (CVE-2023-44487): over TLS the public listener
// speaks HTTP/2 and advertises server.http2_max_concurrent_streams; a
// client that opens and at once resets thousands of streams on one
// connection does not take the gateway down: another client is answered
// promptly meanwhile.
func TestHTTP2RapidReset(t *testing.T) {
	addr, conn, fr := h2Gateway(t, "  http2_max_concurrent_streams: 50\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var maxStreams uint32
	for maxStreams == 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's settings: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
			if !ok {
				t.Fatal("no SETTINGS_MAX_CONCURRENT_STREAMS")
			}
			maxStreams = v
		}
	}
	if maxStreams != 50 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want the configured 50", maxStreams)
	}
	_ = fr.WriteSettingsAck()

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/x"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	// Drain what the server sends so it never blocks on us.
	go func() {
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for id := uint32(1); id < 2*5000; id += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			break // the server closed the connection: also a defence
		}
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
	}
	// Meanwhile another client is served.
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	start := time.Now()
	resp, err := client.Get("https://" + addr + "/v1/x")
	if err != nil {
		t.Fatalf("another client during the rapid reset: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || time.Since(start) > 2*time.Second {
		t.Fatalf("another client: %s after %v", resp.Proto, time.Since(start))
	}
}

// TestHTTP2ContinuationFlood (CVE-2023-45288, GHSA-4v7x-pqxf-cx7m; in
// Envoy CVE-2024-30255 and CVE-2024-27919): a client that sends one
// request's HEADERS and then CONTINUATION frames without end makes a
// server that keeps decoding them spend CPU and memory without bound.
// Here the connection is closed once the headers pass
// server.max_header_bytes by the HTTP/2 server's margin — a bounded
// number of bytes, far below the flood — and another client is served.
func TestHTTP2ContinuationFlood(t *testing.T) {
	addr, conn, fr := h2Gateway(t, "")
	closed := make(chan struct{})
	go func() { // the server's frames, until it closes the connection
		defer close(closed)
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/x"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true}); err != nil {
		t.Fatal(err)
	}
	// Each fragment is self-contained: never-indexed literal fields, so
	// the flood is valid HPACK all along and only its size can stop it.
	var frag bytes.Buffer
	fenc := hpack.NewEncoder(&frag)
	for frag.Len() < 15000 {
		_ = fenc.WriteField(hpack.HeaderField{Name: "x-flood", Value: string(bytes.Repeat([]byte("f"), 1000)), Sensitive: true})
	}
	const flood = 64 << 20
	sent := 0
	for sent < flood {
		if err := fr.WriteContinuation(1, false, frag.Bytes()); err != nil {
			break
		}
		sent += frag.Len()
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("the server still held the connection after %d MiB of CONTINUATION frames", sent>>20)
	}
	if sent >= flood {
		t.Fatalf("the server read the whole %d MiB flood before closing", flood>>20)
	}
	t.Logf("closed after %d KiB of CONTINUATION frames were written", sent>>10)

	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + addr + "/v1/x")
	if err != nil {
		t.Fatalf("another client after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("another client: %s, want HTTP/2", resp.Proto)
	}
}
