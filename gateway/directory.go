package gateway

import (
	"context"
	"fmt"
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
			Upgraded:        func(result string) { m.hashUpgrades.WithLabelValues(result).Inc() },
			HoldUpgrades:    gen.legacyOpen,
			WaitForDatabase: true,
			State:           m.directoryState,
		})
		if err != nil {
			var problems []string
			for line := range strings.SplitSeq(err.Error(), "\n") {
				problems = append(problems, "identity.sql."+line)
			}
			return nil, problems
		}
		gen.closers = append(gen.closers, closerFunc(closeDB))
		if p, ok := dir.(interface{ Pending() error }); ok && p.Pending() != nil {
			gen.warnings = append(gen.warnings, "identity.sql.dsn: "+p.Pending().Error()+
				": its queries were not checked; the gateway serves without it (sessions are served; logins and refreshes that need it answer the dialect's unavailable code) and checks them as soon as it answers (authgate_identity_directory_state)")
		}
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
			gen.warnings = append(gen.warnings, fmt.Sprintf("identity.users_file: DEMO IDENTITIES LOADED from %s (%d users): anyone can log in with the published demo credentials; never run this users file in production", c.UsersFile, dir.Len()))
		}
		return dir, nil
	}
}

// unopened stands in for a user directory that failed to open while the
// config's other problems are listed, so the dialects that need one do
// not add problems of their own (a dialect asking for a users file
// although identity.type is sql): the directory's own are the real ones.
type unopened struct{}

var errUnopened = fmt.Errorf("the user directory did not open: %w", identity.ErrUnavailable)

func (unopened) Authenticate(context.Context, string, string) (identity.User, error) {
	return identity.User{}, errUnopened
}
func (unopened) ByID(context.Context, int64) (identity.User, error) {
	return identity.User{}, errUnopened
}
func (unopened) ByAccount(context.Context, string) (identity.User, error) {
	return identity.User{}, errUnopened
}
func (unopened) ByMobile(context.Context, string) (identity.User, error) {
	return identity.User{}, errUnopened
}

// unopenedSQL is unopened for identity.type sql, whose database an
// appkey apps_query reads.
type unopenedSQL struct{ unopened }

func (unopenedSQL) ReadTable(context.Context, string) ([]string, []map[string]string, error) {
	return nil, nil, errUnopened
}

// standIn is the stand-in of a directory of type typ that failed to open.
func standIn(typ string) identity.Directory {
	if typ == "sql" {
		return unopenedSQL{}
	}
	return unopened{}
}
