// Package secrets resolves a secret named in config by one of three keys:
// `<name>` (inline), `<name>_env` (an environment variable) or
// `<name>_file` (a file, relative to the config file's folder).
package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Source is the three ways a secret may be given; exactly one is set.
type Source struct {
	Inline string
	Env    string
	File   string
}

// Resolve returns the secret. name is the key stem used in messages
// ("secret" → "secret, secret_env or secret_file"); min is the least length
// accepted, so a short HMAC key is refused at start.
func Resolve(name string, s Source, lookupEnv func(string) (string, bool), dir string, min int) ([]byte, error) {
	set := 0
	for _, v := range []string{s.Inline, s.Env, s.File} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("%s: set exactly one of %s, %s_env, %s_file", name, name, name, name)
	}
	var v string
	switch {
	case s.Inline != "":
		v = s.Inline
	case s.Env != "":
		if lookupEnv == nil {
			lookupEnv = os.LookupEnv
		}
		var ok bool
		if v, ok = lookupEnv(s.Env); !ok || v == "" {
			return nil, fmt.Errorf("%s_env: environment variable %s is not set", name, s.Env)
		}
	default:
		path := s.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s_file: %w", name, errors.Unwrap(err))
		}
		v = strings.TrimRight(string(raw), "\r\n")
	}
	if len(v) < min {
		return nil, fmt.Errorf("%s: must be at least %d bytes, got %d", name, min, len(v))
	}
	return []byte(v), nil
}
