package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/httpdir"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/internal/secrets"
)

// closerFunc adapts a close function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// openDirectory builds the identity block's user directory: the users
// file, or the legacy service's database. It stays a nil interface when
// there is none, so dialects that need one can tell.
func (g *Gateway) openDirectory(cfg *Config, gen *generation, verify func(hash, secret string) (bool, error)) (identity.Directory, []string) {
	o, m := g.o, g.m
	c := cfg.Identity
	switch c.Type {
	case "sql":
		dsn, err := secrets.Resolve("dsn", secrets.Source{Env: c.SQL.DSNEnv, File: c.SQL.DSNFile}, o.LookupEnv, cfg.dir, 1)
		if err != nil {
			return nil, []string{"identity.sql." + err.Error()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dir, closeDB, err := sqldir.Open(ctx, c.SQL, string(dsn), sqldir.Options{
			Verify: verify, Logger: o.Logger.With("directory", "sql"),
			Upgraded: func(ok bool) {
				if ok {
					m.hashUpgrades.WithLabelValues("ok").Inc()
				} else {
					m.hashUpgrades.WithLabelValues("error").Inc()
				}
			},
		})
		if err != nil {
			var problems []string
			for line := range strings.SplitSeq(err.Error(), "\n") {
				problems = append(problems, "identity.sql."+line)
			}
			return nil, problems
		}
		gen.closers = append(gen.closers, closerFunc(closeDB))
		return dir, nil
	case "http":
		dir, err := httpdir.Open(c.HTTP, cfg.dir, o.LookupEnv)
		if err != nil {
			var problems []string
			for line := range strings.SplitSeq(err.Error(), "\n") {
				problems = append(problems, "identity.http."+line)
			}
			return nil, problems
		}
		return dir, nil
	default:
		if c.UsersFile == "" {
			return nil, nil
		}
		dir, err := identity.Load(cfg.resolve(c.UsersFile))
		if err != nil {
			return nil, []string{"identity.users_file: " + err.Error()}
		}
		dir.SetVerifier(verify)
		if dir.Demo() {
			o.Logger.Warn("DEMO IDENTITIES LOADED: anyone can log in with the published demo credentials; "+
				"never run this users file in production", "users_file", c.UsersFile, "users", dir.Len())
		}
		return dir, nil
	}
}
