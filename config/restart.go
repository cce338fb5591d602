package config

import (
	"fmt"
	"reflect"
	"strings"
)

// RestartKeys lists the keys whose change between running and next only a
// restart applies, each as "key: cannot change ...; restart to apply it".
// A secret's values are never printed.
//
// Which keys a reload may change is said once, on the fields: a field
// tagged reload:"restart" (or every field under one so tagged) is read
// only when the process starts — listeners, the server's timeouts, the
// store, the log level — and reload:"onoff" is restart-only in whether it
// is set (HTTPS on or off) while its value reloads (a renewed
// certificate). Everything else is built anew by each reload. The
// generated configuration reference reads the same tags.
func RestartKeys(running, next *Config) []string {
	var out []string
	walkRestart(reflect.ValueOf(*running), reflect.ValueOf(*next), "", "", func(key, mode string, was, now reflect.Value) {
		switch mode {
		case "onoff":
			if wasSet, nowSet := !was.IsZero(), !now.IsZero(); wasSet != nowSet {
				out = append(out, fmt.Sprintf("%s: cannot be set or unset while the gateway runs (set: %v → %v); restart to apply it", key, wasSet, nowSet))
			}
		default:
			if !reflect.DeepEqual(was.Interface(), now.Interface()) {
				change := fmt.Sprintf("%v → %v", was.Interface(), now.Interface())
				if isSecretKey(key) {
					change = "changed"
				}
				out = append(out, fmt.Sprintf("%s: cannot change while the gateway runs (%s); restart to apply it", key, change))
			}
		}
	})
	return out
}

// RestartMode is the reload tag that governs a key path ("restart",
// "onoff" or "" for a key a reload applies), for the configuration
// reference.
func RestartMode(field reflect.StructField, inherited string) string {
	if m := field.Tag.Get("reload"); m != "" {
		return m
	}
	return inherited
}

// walkRestart calls visit for every leaf under a restart-tagged field, or
// an onoff-tagged one, of two values of one struct type.
func walkRestart(was, now reflect.Value, prefix, inherited string, visit func(key, mode string, was, now reflect.Value)) {
	t := was.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		mode := RestartMode(f, inherited)
		if name == "" { // a squashed struct: its keys are the parent's
			key = prefix
		}
		w, n := was.Field(i), now.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.String() != "time.Duration" {
			walkRestart(w, n, key, mode, visit)
			continue
		}
		if mode != "" {
			visit(key, mode, w, n)
		}
	}
}

// isSecretKey reports whether a key holds a secret's value itself.
func isSecretKey(key string) bool {
	last := key[strings.LastIndex(key, ".")+1:]
	return last == "password" || strings.HasSuffix(last, "secret")
}
