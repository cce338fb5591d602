package sqldir

import (
	"fmt"
	"strings"
)

// query is an operator's SQL with :named parameters, rewritten for the
// driver: $1, $2 ... for PostgreSQL, ? for MySQL, with the names in the
// order their placeholders appear. database/sql has no named parameters
// of its own that both drivers read, hence this small rewrite.
type query struct {
	text  string
	names []string
}

// parseQuery rewrites :name outside quotes; "::" (a PostgreSQL cast) and
// a colon not followed by a letter stay as they are.
func parseQuery(src, driver string) (query, error) {
	var b strings.Builder
	var q query
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b.WriteByte(c)
		case c == '\'' || c == '"' || c == '`':
			quote = c
			b.WriteByte(c)
		case c == ':' && i+1 < len(src) && src[i+1] == ':':
			b.WriteString("::")
			i++
		case c == ':' && i+1 < len(src) && isNameStart(src[i+1]):
			j := i + 1
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			q.names = append(q.names, src[i+1:j])
			if driver == "postgres" {
				fmt.Fprintf(&b, "$%d", len(q.names))
			} else {
				b.WriteByte('?')
			}
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return query{}, fmt.Errorf("an unclosed %c quote", quote)
	}
	q.text = b.String()
	return q, nil
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// args orders the values for the placeholders; a name without a value is
// a configuration mistake reported at start.
func (q query) args(values map[string]any) ([]any, error) {
	out := make([]any, len(q.names))
	for i, n := range q.names {
		v, ok := values[n]
		if !ok {
			return nil, fmt.Errorf("parameter :%s is not one this query gets", n)
		}
		out[i] = v
	}
	return out, nil
}
