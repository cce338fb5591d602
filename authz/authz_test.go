package authz_test

import (
	"strings"
	"testing"

	"github.com/authgate/authgate/authz"
)

// TestCompileNamesEveryProblem: a misspelt attribute, a type error, an
// expression that is no condition, a rule without a name or with
// another's are each a problem naming the rule's key.
func TestCompileNamesEveryProblem(t *testing.T) {
	_, problems := authz.Compile([]authz.Rule{
		{Name: "a", Allow: `rolez.exists(r, r == "admin")`},
		{Name: "b", Allow: `company == 2`},
		{Name: "c", Allow: `subject`},
		{Name: "", Allow: `true`},
		{Name: "a", Allow: `method == "GET"`},
	})
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		"authorize[0].allow: ", "undeclared reference to 'rolez'",
		"authorize[1].allow: ", "no matching overload",
		"authorize[2].allow: is a string, not true or false",
		"authorize[3].name: required",
		`authorize[4].name: "a" is also another rule's`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}

// TestAllow: every rule must hold; the first that does not is named; the
// well-known attributes read the dialects' attributes; a rule reading an
// attribute the request lacks does not hold.
func TestAllow(t *testing.T) {
	rules, problems := authz.Compile([]authz.Rule{
		{Name: "admins", Allow: `"admin" in roles`},
		{Name: "owner", Allow: `owner == "proj-1"`},
		{Name: "reads", Allow: `method == "GET" && path.startsWith("/orders/")`},
		{Name: "tier", Allow: `attrs["tier"] == "gold"`},
	})
	if problems != nil {
		t.Fatal(problems)
	}
	in := authz.Input{Subject: "ptdev", Dialect: "bov3", Method: "GET", Path: "/orders/7",
		Attrs: map[string]string{"roles": "development,admin", "owner_id": "proj-1", "tier": "gold"}}
	if ok, by := rules.Allow(in); !ok {
		t.Fatalf("refused by %s", by)
	}
	for rule, change := range map[string]func(*authz.Input){
		"admins": func(i *authz.Input) {
			i.Attrs = map[string]string{"roles": "development", "owner_id": "proj-1", "tier": "gold"}
		},
		"owner": func(i *authz.Input) {
			i.Attrs = map[string]string{"roles": "admin", "owner_id": "proj-2", "tier": "gold"}
		},
		"reads": func(i *authz.Input) { i.Method = "POST" },
		"tier":  func(i *authz.Input) { i.Attrs = map[string]string{"roles": "admin", "owner_id": "proj-1"} },
	} {
		c := in
		change(&c)
		if ok, by := rules.Allow(c); ok || by != rule {
			t.Errorf("want a refusal by %s, got ok=%v by %q", rule, ok, by)
		}
	}
	var none *authz.Rules
	if ok, _ := none.Allow(in); !ok {
		t.Fatal("a route without rules refused")
	}
}

// BenchmarkThreeRules is what a route with three rules adds per request.
func BenchmarkThreeRules(b *testing.B) {
	rules, problems := authz.Compile([]authz.Rule{
		{Name: "member", Allow: `company in ["1", "2"]`},
		{Name: "reads", Allow: `method == "GET" && path.startsWith("/v1/")`},
		{Name: "device", Allow: `attrs["device"] != ""`},
	})
	if problems != nil {
		b.Fatal(problems)
	}
	in := authz.Input{Subject: "10", Dialect: "mmm", Company: "1", Method: "GET", Path: "/v1/orders", Attrs: map[string]string{"device": "d1"}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := rules.Allow(in); !ok {
			b.Fatal("refused")
		}
	}
}
