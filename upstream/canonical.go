// Package upstream forwards authenticated requests to backends: a reverse
// proxy on net/http/httputil.ReverseProxy (its Rewrite hook), the path
// canonicalisation every route match depends on, and the built-in echo
// target.
package upstream

import (
	"errors"
	"path"
	"strings"
)

// ErrBadPath reports a request path the gateway refuses to interpret: an
// encoded slash or backslash, a control character, a double encoding, or
// dot segments climbing above the root.
var ErrBadPath = errors.New("upstream: path refused")

// Canonicalize turns a request's escaped path into the one path the route
// table matches and the upstream receives: percent-decoded, path
// parameters (";jsessionid=..." and %3b spellings) removed from each
// segment, dot segments ("." ".." and their %2e spellings) resolved,
// doubled slashes collapsed.
// Anything whose meaning could differ between the gateway and a backend is
// refused rather than guessed: %2f and %5c (a backend may decode them into
// separators after the gateway matched), a raw backslash, %25 (a double
// encoding a backend may decode twice), control characters, "..", that
// climb above the root, and bad escapes.
func Canonicalize(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", ErrBadPath
	}
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) {
				return "", ErrBadPath
			}
			hi, ok1 := unhex(escaped[i+1])
			lo, ok2 := unhex(escaped[i+2])
			if !ok1 || !ok2 {
				return "", ErrBadPath
			}
			v := hi<<4 | lo
			if v == '/' || v == '\\' || v == '%' || v < 0x20 || v == 0x7f {
				return "", ErrBadPath
			}
			b.WriteByte(v)
			i += 2
		case c == '\\' || c < 0x20 || c == 0x7f:
			return "", ErrBadPath
		default:
			b.WriteByte(c)
		}
	}
	decoded, err := stripParams(b.String())
	if err != nil {
		return "", err
	}
	// Climbing above the root is an attack, not a path: refuse it instead
	// of letting path.Clean quietly pin it to "/".
	depth := 0
	for seg := range strings.SplitSeq(decoded, "/") {
		switch seg {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", ErrBadPath
			}
		default:
			depth++
		}
	}
	clean := path.Clean(decoded)
	if strings.HasSuffix(decoded, "/") && clean != "/" {
		clean += "/"
	}
	return clean, nil
}

// stripParams removes path parameters (";" and what follows, in each
// segment) the way Tomcat, Spring and Jetty read a path: to them
// "/v1;x/orders" is "/v1/orders" and "/v1/..;/admin" is "/admin". The
// gateway matches routes on, and forwards, that same reading, so no
// backend sees another path than the route table did. A segment that is
// a dot segment once stripped ("..;", ".;x") is refused: it only ever
// serves to make two readers disagree. One that is empty once stripped
// (";x") becomes a doubled slash and is collapsed, as those servers do.
func stripParams(p string) (string, error) {
	if !strings.Contains(p, ";") {
		return p, nil
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		cut, _, had := strings.Cut(seg, ";")
		if !had {
			continue
		}
		if cut == "." || cut == ".." {
			return "", ErrBadPath
		}
		segs[i] = cut
	}
	return strings.Join(segs, "/"), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
