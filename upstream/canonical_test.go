package upstream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authgate/authgate/upstream"
)

func TestCanonicalize(t *testing.T) {
	ok := map[string]string{
		"":                           "/",
		"/":                          "/",
		"/v1/orders":                 "/v1/orders",
		"/v1/orders/":                "/v1/orders/",
		"/v1//orders":                "/v1/orders",
		"//v1///orders//":            "/v1/orders/",
		"/v1/./orders":               "/v1/orders",
		"/v1/x/../orders":            "/v1/orders",
		"/v1/%2e%2e/admin":           "/admin",
		"/v1/%2E%2e/admin":           "/admin",
		"/v1/.%2e/admin":             "/admin",
		"/v1/%2e/orders":             "/v1/orders",
		"/v1/a%20b":                  "/v1/a b",
		"/v1/%E4%B8%AD":              "/v1/中",
		"/v1/..":                     "/",
		"/v1/orders/..":              "/v1",
		"/v1/orders/%7Euser":         "/v1/orders/~user",
		"/v1/orders/;jsessionid":     "/v1/orders/",
		"/v1/orders;jsessionid=ab12": "/v1/orders",
		"/v1;x/orders":               "/v1/orders",
		"/v1/a;b=c;d/e":              "/v1/a/e",
		"/v1/%3bx/e":                 "/v1/e",
		"/v1/orders%3Bjsessionid=1":  "/v1/orders",
		"/;x/admin":                  "/admin",
	}
	for in, want := range ok {
		got, err := upstream.Canonicalize(in)
		if err != nil || got != want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	refused := []string{
		"/v1/..%2fadmin",
		"/v1/%2fadmin",
		"/v1/%2Fadmin",
		"/v1/%5cadmin",
		"/v1\\admin",
		"/v1/%252e%252e/admin",
		"/v1/%00",
		"/v1/%0a",
		"/v1/%",
		"/v1/%zz",
		"/v1/%2",
		"/..",
		"/v1/../../admin",
		"/%2e%2e/x",
		"/v1/..;/admin",
		"/v1/..;x=1/admin",
		"/v1/.;x/admin",
		"/v1/..%3b/admin",
		"/v1/..%3B/admin",
		"/v1/%2e%2e;/admin",
		"/v1/%2e;/admin",
		"v1/orders",
	}
	for _, in := range refused {
		if got, err := upstream.Canonicalize(in); !errors.Is(err, upstream.ErrBadPath) {
			t.Errorf("Canonicalize(%q) = %q, %v; want ErrBadPath", in, got, err)
		}
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{"/v1/%2e%2e/admin", "/a//b/./c/..", "/%2f", "/x/%25", "/v1/..;/admin", "/a;b/%3b/c", "/v1\\..", "/x/..%3Bq/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := upstream.Canonicalize(in)
		if err != nil {
			return
		}
		// A canonical path is a fixed point and never climbs or doubles.
		again, err := upstream.Canonicalize(out)
		if err != nil || again != out {
			t.Fatalf("Canonicalize(%q) = %q, not a fixed point (%q, %v)", in, out, again, err)
		}
		if out[0] != '/' {
			t.Fatalf("%q → %q does not start at the root", in, out)
		}
		// What a backend reads: no path parameter, no backslash, no dot
		// segment left for it to resolve otherwise.
		if strings.ContainsAny(out, ";\\") {
			t.Fatalf("%q → %q keeps a ; or a backslash", in, out)
		}
		for seg := range strings.SplitSeq(out, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q → %q keeps a dot segment", in, out)
			}
		}
	})
}

func BenchmarkCanonicalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := upstream.Canonicalize("/v1/orders/%E4%B8%AD/./items//7"); err != nil {
			b.Fatal(err)
		}
	}
}
