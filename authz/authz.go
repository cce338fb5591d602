// Package authz decides who may pass a route: rules written as CEL
// expressions (github.com/google/cel-go, the language Envoy and Kubernetes
// use for the same job) over the identity the dialects established and
// the request's method and path. CEL was chosen over a hand-written
// matcher for its type checking when the config loads (a misspelt
// attribute or a comparison of a string with a number is a check-config
// problem naming the route, never a surprise at run time), its
// guaranteed termination (no loops: a rule cannot hang a request), and
// its cost: a compiled program evaluates in well under a microsecond.
package authz

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Rule is one entry of a route's `authorize` list.
type Rule struct {
	// Name identifies the rule in the log line and the audit of a refusal.
	Name string `koanf:"name"`
	// Allow is a CEL expression that must be true for the request to
	// pass, over subject, dialect, company, product_type, user_type,
	// app_id, roles, owner, attrs, method and path (docs/authorization.md).
	Allow string `koanf:"allow"`
}

// Input is what rules read about a request.
type Input struct {
	Subject, Dialect, Company string
	// Attrs are the dialect's attributes (the X-Auth-* headers').
	Attrs        map[string]string
	Method, Path string
}

// Rules are a route's compiled rules: every one must hold.
type Rules struct {
	names    []string
	programs []cel.Program
	// all is every rule in one program: a request that passes (the
	// common case) costs one evaluation; the rules one by one are only
	// run to name the one that refused.
	all cel.Program
}

// env declares the attributes rules may read.
func env() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("subject", cel.StringType),
		cel.Variable("dialect", cel.StringType),
		cel.Variable("company", cel.StringType),
		cel.Variable("product_type", cel.StringType),
		cel.Variable("user_type", cel.StringType),
		cel.Variable("app_id", cel.StringType),
		cel.Variable("owner", cel.StringType),
		cel.Variable("roles", cel.ListType(cel.StringType)),
		cel.Variable("attrs", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("method", cel.StringType),
		cel.Variable("path", cel.StringType),
	)
}

// Compile type-checks rules; problems name their key relative to the
// route (authorize[1].allow: ...), every one at once. No rules is nil.
func Compile(rules []Rule) (*Rules, []string) {
	if len(rules) == 0 {
		return nil, nil
	}
	e, err := env()
	if err != nil {
		return nil, []string{"authorize: " + err.Error()}
	}
	var problems []string
	out := &Rules{}
	seen := map[string]bool{}
	for i, r := range rules {
		at := fmt.Sprintf("authorize[%d]", i)
		if r.Name == "" {
			problems = append(problems, at+".name: required (the log names a refusal by it)")
		} else if seen[r.Name] {
			problems = append(problems, fmt.Sprintf("%s.name: %q is also another rule's", at, r.Name))
		}
		seen[r.Name] = true
		ast, iss := e.Compile(r.Allow)
		if iss.Err() != nil {
			problems = append(problems, fmt.Sprintf("%s.allow: %s", at, strings.ReplaceAll(iss.Err().Error(), "\n", " ")))
			continue
		}
		if ast.OutputType() != cel.BoolType {
			problems = append(problems, fmt.Sprintf("%s.allow: is a %s, not true or false", at, ast.OutputType()))
			continue
		}
		prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s.allow: %v", at, err))
			continue
		}
		out.names = append(out.names, r.Name)
		out.programs = append(out.programs, prg)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	var all []string
	for _, r := range rules {
		all = append(all, "("+r.Allow+")")
	}
	ast, iss := e.Compile(strings.Join(all, " && "))
	if iss.Err() != nil {
		return nil, []string{"authorize: " + iss.Err().Error()}
	}
	if out.all, err = e.Program(ast, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, []string{"authorize: " + err.Error()}
	}
	return out, nil
}

// Allow reports whether every rule holds for in, and else the name of
// the first that does not (a rule that fails to evaluate, reading an
// attribute the request lacks, does not hold: fail closed).
func (rs *Rules) Allow(in Input) (ok bool, refusedBy string) {
	if rs == nil {
		return true, ""
	}
	vars := activations.Get().(*activation)
	vars.in = in
	ok, refusedBy = rs.eval(vars)
	vars.in = Input{} // keep no request's attributes alive in the pool
	activations.Put(vars)
	return ok, refusedBy
}

// eval runs the rules on vars: all at once, and one by one only to name
// a refusal.
func (rs *Rules) eval(vars *activation) (bool, string) {
	if v, _, err := rs.all.Eval(vars); err == nil && v.Value() == true {
		return true, ""
	}
	for i, p := range rs.programs {
		v, _, err := p.Eval(vars)
		if err != nil || v.Value() != true {
			return false, rs.names[i]
		}
	}
	return true, ""
}

// activation is a request as the rules' variables, resolved by name when
// a rule reads one (no map built per request: a route's rules cost well
// under a microsecond): the well-known attributes under their own names
// (empty when the dialect has none), roles split from the comma-separated
// attribute.
type activation struct{ in Input }

// activations are reused: a request's variables cost no allocation of
// their own.
var activations = sync.Pool{New: func() any { return new(activation) }}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	in := &a.in
	switch name {
	case "subject":
		return types.String(in.Subject), true
	case "dialect":
		return types.String(in.Dialect), true
	case "company":
		return types.String(in.Company), true
	case "method":
		return types.String(in.Method), true
	case "path":
		return types.String(in.Path), true
	case "product_type", "user_type", "app_id":
		return types.String(in.Attrs[name]), true
	case "owner":
		if o := in.Attrs["owner_id"]; o != "" {
			return types.String(o), true
		}
		return types.String(in.Attrs["owner"]), true
	case "roles":
		var roles []string
		if r := in.Attrs["roles"]; r != "" {
			roles = strings.Split(r, ",")
		}
		return types.NewStringList(types.DefaultTypeAdapter, roles), true
	case "attrs":
		return types.NewStringStringMap(types.DefaultTypeAdapter, in.Attrs), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }
