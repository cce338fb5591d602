// Package confdecode decodes configuration maps into structs the one way
// the gateway's own blocks and every dialect's block are decoded: unknown
// keys are errors, durations must be written with a unit, and every
// problem comes back as one line "key.path: reason" in the words of the
// YAML file, never a Go type name.
package confdecode

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// durationExample ends every message about a duration.
const durationExample = `write it with a unit, like "30s", "15m" or "24h"`

// DurationHook turns "30m" into a time.Duration and refuses anything else:
// a bare number would otherwise be read as nanoseconds (a token TTL of
// 1800 ns is a token issued already expired).
func DurationHook(_, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration; %s", v, durationExample)
		}
		return d, nil
	default:
		return nil, fmt.Errorf("%v is a bare number, not a duration; %s", v, durationExample)
	}
}

// TimeHook reads a point in time: YAML's own timestamps (2027-01-31,
// 2027-01-31T18:00:00+08:00, which the parser already made times), and
// the same spellings as strings (from the environment). A date alone is
// midnight UTC at its start.
func TimeHook(_, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Time]() {
		return data, nil
	}
	switch v := data.(type) {
	case time.Time:
		return v, nil
	case string:
		v = strings.TrimSpace(v)
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		return nil, fmt.Errorf("%q is not a date (2027-01-31) or an RFC 3339 time (2027-01-31T18:00:00+08:00)", v)
	default:
		return nil, fmt.Errorf("%v is not a date (2027-01-31) or an RFC 3339 time (2027-01-31T18:00:00+08:00)", v)
	}
}

// Config is the decoder configuration for out: koanf tags, strict keys,
// weak typing for scalars (env values are strings), and DurationHook and
// TimeHook before any extra hooks.
func Config(out any, extra ...mapstructure.DecodeHookFunc) *mapstructure.DecoderConfig {
	hooks := append([]mapstructure.DecodeHookFunc{DurationHook, TimeHook}, extra...)
	return &mapstructure.DecoderConfig{
		Result:           out,
		TagName:          "koanf",
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(hooks...),
	}
}

// Decode decodes input into out (a pointer to a struct) and returns every
// problem, sorted. The decoder fills every field it can before it reports,
// so callers go on to validate the values and list those problems too.
func Decode(input, out any) []string {
	dec, err := mapstructure.NewDecoder(Config(out))
	if err != nil {
		return []string{err.Error()}
	}
	return Problems(dec.Decode(input), reflect.TypeOf(out).Elem().String())
}

// Problems turns a decoder error into "key.path: reason" lines. root is
// the Go name mapstructure gives the top level (the result's type); its
// keys have no path before them.
func Problems(err error, root string) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		if de, ok := e.(*mapstructure.DecodeError); ok {
			out = append(out, lines(de.Name(), root, errors.Unwrap(de))...)
			return
		}
		if next := errors.Unwrap(e); next != nil {
			walk(next)
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	sort.Strings(out)
	return out
}

var typeName = regexp.MustCompile(`'([^']+)'`)

// lines words one decoder error at key name.
func lines(name, root string, err error) []string {
	if name == root {
		name = ""
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	join := func(key string) string {
		if name == "" {
			return key
		}
		return name + "." + key
	}
	if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
		var out []string
		for _, k := range strings.Split(keys, ", ") {
			out = append(out, join(k)+": unknown key")
		}
		return out
	}
	if name == "" {
		name = "(top level)"
	}
	switch {
	case strings.HasPrefix(msg, "cannot parse value as "), strings.HasPrefix(msg, "expected type "):
		if m := typeName.FindStringSubmatch(msg); m != nil {
			return []string{name + ": must be " + kind(m[1])}
		}
	case strings.HasPrefix(msg, "source data must be an array or slice"):
		return []string{name + ": must be a list"}
	case strings.HasPrefix(msg, "expected a map"):
		return []string{name + ": must be a block of keys"}
	}
	return []string{name + ": " + msg}
}

// kind names a Go type the way the YAML file's writer thinks of it.
func kind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case goType == "time.Duration":
		return "a duration; " + durationExample
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a block of keys"
	default:
		return "a block of keys"
	}
}

// Under puts a block's problems under its key: each line of err (an
// opener names keys relative to its own block) prefixed with prefix
// ("identity.sql.", "tracing."); none for a nil err.
func Under(prefix string, err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		out = append(out, prefix+line)
	}
	return out
}
