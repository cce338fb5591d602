package config

import (
	"sort"
	"strings"
)

// NamedFiles are the files cfg names (resolved), but the appkey apps
// files: every key ending in _file, in any block.
func (c *Config) NamedFiles() []string {
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				walk(k, x)
			}
		case []any:
			for _, x := range t {
				walk(key, x)
			}
		case string:
			if strings.HasSuffix(key, "_file") && key != "apps_file" && t != "" {
				out = append(out, c.Resolve(t))
			}
		}
	}
	for _, block := range c.Dialects {
		walk("", block)
	}
	s := c.Server
	id := c.Identity
	for _, f := range []string{s.TLSCertFile, s.TLSKeyFile, id.UsersFile, id.SQL.DSNFile, id.HTTP.CAFile, id.HTTP.CertFile, id.HTTP.KeyFile, c.Store.Redis.PasswordFile} {
		if f != "" {
			out = append(out, c.Resolve(f))
		}
	}
	sort.Strings(out)
	return out
}
