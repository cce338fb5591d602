package framing_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/framing"
)

// serve answers each request with its method, path and body, behind the
// guard, until the test ends; refusals are collected.
func serve(t *testing.T) (addr string, refused func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reasons []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Trailer.Get("X-T"))
	})}
	go func() {
		_ = srv.Serve(framing.Listener(ln, 64<<10, func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }))
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), reasons...) }
}

// TestFragmentedRequests: requests arriving a few bytes at a time, across
// every boundary (head, length body, chunk lines, chunk data, trailer),
// are served as sent.
func TestFragmentedRequests(t *testing.T) {
	addr, refused := serve(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reqs := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: tt\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	go func() {
		for i := 0; i < len(reqs); i += 3 {
			_, _ = c.Write([]byte(reqs[i:min(i+3, len(reqs))]))
			time.Sleep(time.Millisecond)
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var got []string
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		b, _ := io.ReadAll(resp.Body)
		got = append(got, string(b))
	}
	want := []string{"POST /a hello ", "POST /b abc0123456789abcdef tt", "GET /c  "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("served %q, want %q", got, want)
	}
	if r := refused(); len(r) != 0 {
		t.Fatalf("refused %v", r)
	}
}

// TestChunkFramingRefused: a chunk that is not what its size line says,
// or a size line that is not a size, ends the connection before the
// server reads on.
func TestChunkFramingRefused(t *testing.T) {
	addr, _ := serve(t)
	for name, body := range map[string]string{
		"over-long size":   strings.Repeat("f", 17) + "\r\nabc\r\n0\r\n\r\n",
		"not hex":          "zz\r\nabc\r\n0\r\n\r\n",
		"data overruns":    "3\r\nabcdef\r\n0\r\n\r\n",
		"bare LF in chunk": "3\nabc\r\n0\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body + "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		all, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Errorf("%s: the connection was left open: %v", name, err)
		}
		if strings.Contains(string(all), "/after") || strings.Contains(string(all), "200 OK") && strings.Contains(string(all), "abc") && !strings.Contains(string(all), "400") {
			t.Errorf("%s: served %q", name, all)
		}
	}
}

// BenchmarkGuard is one keep-alive request with a small body, through a
// plain listener and through the guard: what the guard adds per request.
func BenchmarkGuard(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := "plain"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if guarded {
				ln = framing.Listener(ln, 64<<10, nil)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			url := "http://" + ln.Addr().String() + "/x"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := client.Post(url, "application/json", strings.NewReader(`{"account":"demo","password":"demo123"}`))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
