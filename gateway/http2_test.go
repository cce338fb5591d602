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
)

// TestHTTP2RapidReset (CVE-2023-44487): over TLS the public listener
// speaks HTTP/2 and advertises server.http2_max_concurrent_streams; a
// client that opens and at once resets thousands of streams on one
// connection does not take the gateway down: another client is answered
// promptly meanwhile.
func TestHTTP2RapidReset(t *testing.T) {
	path := writeConfig(t, gwOptions{server: "  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n  http2_max_concurrent_streams: 50\n"})
	selfSigned(t, filepath.Dir(path), 1)
	g := buildGateway(t, path, gateway.Options{})
	ln, _, cancel, served := serve(t, g)
	defer func() { cancel(); <-served }()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
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
	resp, err := client.Get("https://" + ln.Addr().String() + "/v1/x")
	if err != nil {
		t.Fatalf("another client during the rapid reset: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || time.Since(start) > 2*time.Second {
		t.Fatalf("another client: %s after %v", resp.Proto, time.Since(start))
	}
}
