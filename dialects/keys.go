package dialects

import "strings"

// Namespace starts every store key of one dialect instance (its config
// name), so two instances, even of one type, never share a rate-limit
// window, a code or a nonce: Namespace("mmm").Key("login", ip) is
// "mmm:login:<ip>". Sessions are keyed by their random ids and need none.
type Namespace string

// Key joins the instance name, what the key is for, and its parts.
func (n Namespace) Key(kind string, parts ...string) string {
	return string(n) + ":" + kind + ":" + strings.Join(parts, ":")
}
