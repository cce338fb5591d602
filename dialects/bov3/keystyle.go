package bov3

import (
	"strings"
	"unicode"
)

// SnakeKeys returns v with every object key, nested ones too, turned from
// lowerCamelCase into snake_case: the `_nodejs=common-data-under` style.
// v is what encoding/json decodes into any (maps, slices, scalars).
func SnakeKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[Snake(k)] = SnakeKeys(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = SnakeKeys(val)
		}
		return out
	default:
		return v
	}
}

// Snake turns one lowerCamelCase key into snake_case: "tokenUser" →
// "token_user", "userID" → "user_id", "expiresIn" → "expires_in".
func Snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i, r := range rs {
		// Upper- and title-case letters alike: whatever has a lower case.
		if unicode.ToLower(r) != r {
			prevLowerOrDigit := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			acronymEnd := i > 0 && unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if (prevLowerOrDigit || acronymEnd) && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
