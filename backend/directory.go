package backend

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/httpdir"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/internal/confdecode"
	"github.com/authgate/authgate/internal/secrets"
)

// DirectoryOptions are what opening a user directory needs from the
// process.
type DirectoryOptions struct {
	// Verify checks a secret against a stored hash (bounded by
	// identity.max_concurrent_checks).
	Verify identity.Verifier
	// LookupEnv reads the secrets' environment variables.
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	// Upgraded counts a password-hash upgrade's result; HoldUpgrades
	// reports whether upgrades are held (a legacy window is open); State
	// records the sql directory's state. Used by identity.type sql.
	Upgraded     func(result string)
	HoldUpgrades func() bool
	State        func(state string)
}

// Directory is an opened user directory and what comes with it.
type Directory struct {
	// Users is the directory; a nil interface when the config names none,
	// so dialects that need one can tell, and a stand-in that answers
	// unavailable when it failed to open (Problems say why).
	Users identity.Directory
	// Close releases it (a database pool); never nil.
	Close func() error
	// Warnings are what works but an operator should know.
	Warnings []string
	// Problems are why it did not open, each naming its key.
	Problems []string
}

// OpenDirectory opens the identity block's user directory: the users
// file, the legacy service's database (sql) or its service (http).
func OpenDirectory(cfg *config.Config, o DirectoryOptions) Directory {
	d := Directory{Close: func() error { return nil }}
	var problems []string
	d.Users, problems = openDirectory(cfg, o, &d)
	if len(problems) > 0 {
		d.Users, d.Problems = standIn(cfg.Identity.Type), problems
	}
	return d
}

func openDirectory(cfg *config.Config, o DirectoryOptions, d *Directory) (identity.Directory, []string) {
	verify := o.Verify
	c := cfg.Identity
	switch c.Type {
	case "sql":
		dsn, err := secrets.Resolve("dsn", secrets.Source{Env: c.SQL.DSNEnv, File: c.SQL.DSNFile}, o.LookupEnv, cfg.Dir(), 1)
		if err != nil {
			return nil, []string{"identity.sql." + err.Error()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dir, closeDB, err := sqldir.Open(ctx, c.SQL, string(dsn), sqldir.Options{
			Verify: verify, Logger: o.Logger.With("directory", "sql"),
			Upgraded:        o.Upgraded,
			HoldUpgrades:    o.HoldUpgrades,
			WaitForDatabase: true,
			State:           o.State,
		})
		if err != nil {
			return nil, confdecode.Under("identity.sql.", err)
		}
		d.Close = closeDB
		if p, ok := dir.(interface{ Pending() error }); ok && p.Pending() != nil {
			d.Warnings = append(d.Warnings, "identity.sql.dsn: "+p.Pending().Error()+
				": its queries were not checked; the gateway serves without it (sessions are served; logins and refreshes that need it answer the dialect's unavailable code) and checks them as soon as it answers (authgate_identity_directory_state)")
		}
		return dir, nil
	case "http":
		for _, w := range c.HTTP.Warnings() {
			d.Warnings = append(d.Warnings, "identity.http."+w)
		}
		dir, err := httpdir.Open(c.HTTP, cfg.Dir(), o.LookupEnv)
		if err != nil {
			return nil, confdecode.Under("identity.http.", err)
		}
		return dir, nil
	default:
		if c.UsersFile == "" {
			return nil, nil
		}
		dir, err := identity.Load(cfg.Resolve(c.UsersFile))
		if err != nil {
			return nil, []string{"identity.users_file: " + err.Error()}
		}
		dir.SetVerifier(verify)
		if dir.Demo() {
			d.Warnings = append(d.Warnings, fmt.Sprintf("identity.users_file: DEMO IDENTITIES LOADED from %s (%d users): anyone can log in with the published demo credentials; never run this users file in production", c.UsersFile, dir.Len()))
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
