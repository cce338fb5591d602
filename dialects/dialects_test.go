package dialects_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects"
)

func TestSealedSuccessorOpensOnlyWithThePresentedToken(t *testing.T) {
	type pair struct{ A, B string }
	sealed, err := dialects.SealSuccessor("old-token", pair{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), `"a"`) {
		t.Fatal("successor stored in clear")
	}
	var got pair
	if err := dialects.OpenSuccessor("old-token", sealed, &got); err != nil || got != (pair{"a", "b"}) {
		t.Fatalf("open = %+v, %v", got, err)
	}
	if err := dialects.OpenSuccessor("other-token", sealed, &got); err == nil {
		t.Fatal("opened with another token")
	}
	sealed[len(sealed)-1] ^= 1
	if err := dialects.OpenSuccessor("old-token", sealed, &got); err == nil {
		t.Fatal("tampered successor opened")
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := map[string]string{
		`{"name":"x","n":1}`:   "",
		`{"name":"x","n":"1"}`: `field "n" must be an integer, not string`,
		`{"name":1}`:           `field "name" must be a string, not number`,
		`[1]`:                  "must be a JSON object, not array",
		`{"name":`:             "not valid JSON",
		`{} {}`:                "data after the JSON object",
		``:                     "empty",
		`{"name":"` + strings.Repeat("x", 200) + `"}`: "too large",
	}
	for body, want := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v req
		err := dialects.DecodeJSON(httptest.NewRecorder(), r, 100, &v)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", body, err)
		case want == "too large" && !errors.Is(err, dialects.ErrBodyTooLarge):
			t.Errorf("%q: %v, want ErrBodyTooLarge", body, err)
		case want != "" && want != "too large" && (err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, dialects.ErrMalformedRequest)):
			t.Errorf("%q: %v, want a malformed-request error saying %q", body, err, want)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := dialects.RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r := dialects.NewRegistry(dialects.Factory{Type: "b"}, dialects.Factory{Type: "a"})
	if got := strings.Join(r.Types(), ","); got != "a,b" {
		t.Fatalf("Types = %s", got)
	}
	if _, ok := r.Lookup("c"); ok {
		t.Fatal("found an unregistered type")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a type registered twice did not panic")
		}
	}()
	dialects.NewRegistry(dialects.Factory{Type: "a"}, dialects.Factory{Type: "a"})
}

func TestNamespaceKeys(t *testing.T) {
	if got := dialects.NewNamespace("mmm", "web").Key("login", "10.0.0.1"); got != "mmm:web:login:10.0.0.1" {
		t.Fatalf("key = %q", got)
	}
	if a, b := dialects.NewNamespace("mmm", "a").Key("login", "x"), dialects.NewNamespace("mmm", "b").Key("login", "x"); a == b {
		t.Fatal("two instances share a key")
	}
}
