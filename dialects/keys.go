package dialects

import "strings"

// Namespace starts every store key of one dialect instance ("type:name"),
// so two instances, even of one type, never share a rate-limit window, a
// code or a nonce: NewNamespace("mmm", "web").Key("login", ip) is
// "mmm:web:login:<ip>", the key the mmm dialect has always used. Sessions
// are keyed by their random ids and need none.
type Namespace string

// NewNamespace is the namespace of the instance name of dialect type typ.
func NewNamespace(typ, name string) Namespace { return Namespace(typ + ":" + name) }

// Key joins the namespace and the parts with ":".
func (n Namespace) Key(parts ...string) string {
	return string(n) + ":" + strings.Join(parts, ":")
}
