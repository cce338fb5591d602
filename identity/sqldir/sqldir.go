// Package sqldir is the `sql` user directory: the legacy service's own
// user tables in PostgreSQL (pgx) or MySQL/MariaDB (go-sql-driver), read
// with queries the operator writes for their schema. Passwords stored as
// argon2id or bcrypt are checked as such; legacy digests (md5 of salt and
// password, ...) by the configured scheme, PBKDF2 (Django, Werkzeug) by
// its own spelling, and with upgrade_hashes a successful login rewrites
// digests and PBKDF2 as argon2id.
package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/authgate/authgate/identity"
)

// Config is the identity.sql block.
type Config struct {
	// Driver is postgres or mysql (MariaDB too).
	Driver string `koanf:"driver"`
	// DSN comes from the environment or a file, never inline: it holds
	// the database password.
	DSNEnv  string `koanf:"dsn_env"`
	DSNFile string `koanf:"dsn_file"`
	// MaxOpenConns, ConnMaxLifetime and QueryTimeout bound the pool and
	// each query (a hung database is answered as unavailable in time).
	MaxOpenConns    int           `koanf:"max_open_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	QueryTimeout    time.Duration `koanf:"query_timeout"`
	// RetryInterval is how often a directory whose database has not
	// answered (or whose queries failed their check) asks again, and a
	// ready one checks it still answers.
	RetryInterval time.Duration `koanf:"retry_interval"`
	// LegacyScheme reads password_hash values that are bare digests
	// ("md5(salt+password)"); argon2id and bcrypt values are read as such.
	LegacyScheme string `koanf:"legacy_scheme"`
	// UpgradeHashes rewrites a legacy digest as argon2id after a
	// successful login, through queries.update_password_hash; held while
	// a legacy window is open (Options.HoldUpgrades), unless UpgradeBeside.
	UpgradeHashes bool `koanf:"upgrade_hashes"`
	// UpgradeBeside says update_password_hash writes the argon2id hash
	// beside the legacy digest (a column of its own, which by_account
	// prefers: COALESCE(new, old) AS password_hash) and leaves the digest
	// to the legacy service, so upgrades need not wait for the legacy
	// window to close: a rollback finds every digest where it was.
	UpgradeBeside bool    `koanf:"upgrade_beside"`
	Queries       Queries `koanf:"queries"`
}

// Queries are the operator's SQL, with :named parameters.
type Queries struct {
	ByAccount          string `koanf:"by_account"`           // :account → a user row
	ByID               string `koanf:"by_id"`                // :id → a user row
	ByMobile           string `koanf:"by_mobile"`            // :mobile → a user row
	Companies          string `koanf:"companies"`            // :id → rows of company_id
	RegisterMobile     string `koanf:"register_mobile"`      // :mobile, :source, :name → the new id (RETURNING id, or the insert id)
	UpdatePasswordHash string `koanf:"update_password_hash"` // :id, :password_hash
}

// Defaults are the values of keys the block leaves out.
func Defaults() Config {
	return Config{MaxOpenConns: 10, ConnMaxLifetime: 30 * time.Minute, QueryTimeout: 2 * time.Second, RetryInterval: 5 * time.Second}
}

// UserColumns are the columns a user query may return; id and account
// are required. Lists (bo_roles, bo_owners) are comma-separated.
var UserColumns = []string{"id", "account", "password_hash", "salt", "name", "nick_name", "mobile", "avatar_url",
	"default_company", "bo_user_id", "bo_client_id", "bo_push_name", "bo_roles", "bo_owners"}

// Options are the parts that do not come from config.
type Options struct {
	// Verify checks argon2id and bcrypt hashes (the gateway's bounded
	// identity.VerifySecret).
	Verify identity.Verifier
	Logger *slog.Logger
	// Upgraded is told of each hash upgrade: ok, error, or held.
	Upgraded func(result string)
	// HoldUpgrades, when it says true, holds hash upgrades (unless
	// UpgradeBeside): while a dialect's legacy window is open a rollback
	// to the legacy service is possible, and it can read only its own
	// digests.
	HoldUpgrades func() bool
	// WaitForDatabase starts the directory while its database does not
	// answer (a restart during a database incident must not stop the
	// routes that need no directory): its calls answer unavailable until
	// the database answers and every query has passed its check, retried
	// every retry_interval (Pending says why meanwhile). Without it Open
	// fails instead.
	WaitForDatabase bool
	// State is told of each change of the directory's state: ready,
	// unreachable (the database does not answer) or broken (it answered
	// and a query failed its check).
	State func(state string)
}

// States of a directory, as Options.State is told them.
const (
	StateReady       = "ready"
	StateUnreachable = "unreachable"
	StateBroken      = "broken"
)

// ErrUnreachable is Open's answer when the database does not answer and
// Options.WaitForDatabase is off: nothing about the queries is known.
var ErrUnreachable = errors.New("the database does not answer")

// Dir is the sql directory.
type Dir struct {
	db      *sql.DB
	cfg     Config
	legacy  *identity.LegacyScheme
	q       map[string]query
	verify  identity.Verifier
	log     *slog.Logger
	upgrade func(string)
	hold    func() bool
	dummy   string
	// checked is set once every query has passed its check against the
	// database; until then every call answers unavailable with why
	// (notReady).
	checked  atomic.Bool
	notReady atomic.Pointer[error]
	state    string
	onState  func(string)
	stop     chan struct{}
	done     chan struct{}
}

// registering is a Dir with a register_mobile query: only then is it an
// identity.Registrar, so the mobile dialect registers in the database.
type registering struct{ *Dir }

var (
	_ identity.Directory   = (*Dir)(nil)
	_ identity.TableReader = (*Dir)(nil)
	_ identity.Registrar   = registering{}
)

// Open connects, checks every configured query against the database
// (prepared; a user query's columns read) and returns the directory, or
// every problem, each naming its key under the block. With
// Options.WaitForDatabase a database that does not answer is no problem:
// the directory starts, answers unavailable, and checks the queries as
// soon as the database answers.
func Open(ctx context.Context, cfg Config, dsn string, o Options) (identity.Directory, func() error, error) {
	var errs []error
	driver := map[string]string{"postgres": "pgx", "mysql": "mysql"}[cfg.Driver]
	if driver == "" {
		return nil, nil, fmt.Errorf("driver: %q is not one of postgres, mysql", cfg.Driver)
	}
	d := &Dir{cfg: cfg, q: map[string]query{}, verify: o.Verify, log: o.Logger, upgrade: o.Upgraded, hold: o.HoldUpgrades,
		onState: o.State, stop: make(chan struct{}), done: make(chan struct{})}
	if d.verify == nil {
		d.verify = identity.Unbounded(identity.VerifySecret)
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.upgrade == nil {
		d.upgrade = func(string) {}
	}
	if d.hold == nil || cfg.UpgradeBeside {
		d.hold = func() bool { return false }
	}
	if d.onState == nil {
		d.onState = func(string) {}
	}
	if err := checkDSN(cfg.Driver, dsn); err != nil {
		errs = append(errs, err)
	}
	if cfg.LegacyScheme != "" {
		l, err := identity.ParseLegacyScheme(cfg.LegacyScheme)
		if err != nil {
			errs = append(errs, fmt.Errorf("legacy_scheme: %w", err))
		}
		d.legacy = &l
	}
	if cfg.QueryTimeout <= 0 || cfg.MaxOpenConns < 1 || cfg.RetryInterval <= 0 {
		errs = append(errs, errors.New("query_timeout, retry_interval and max_open_conns must be positive"))
	}
	named := map[string]string{
		"by_account": cfg.Queries.ByAccount, "by_id": cfg.Queries.ByID, "by_mobile": cfg.Queries.ByMobile,
		"companies": cfg.Queries.Companies, "register_mobile": cfg.Queries.RegisterMobile,
		"update_password_hash": cfg.Queries.UpdatePasswordHash,
	}
	for _, required := range []string{"by_account", "by_id", "by_mobile"} {
		if named[required] == "" {
			errs = append(errs, fmt.Errorf("queries.%s: required", required))
		}
	}
	if cfg.UpgradeHashes && named["update_password_hash"] == "" {
		errs = append(errs, errors.New("queries.update_password_hash: required with upgrade_hashes"))
	}
	if cfg.UpgradeBeside && !cfg.UpgradeHashes {
		errs = append(errs, errors.New("upgrade_beside: only with upgrade_hashes: true"))
	}
	if src := named["register_mobile"]; cfg.Driver == "postgres" && src != "" && !strings.Contains(strings.ToUpper(src), "RETURNING") {
		// PostgreSQL has no insert id to read: without RETURNING, every new
		// number's first login would fail after its row was inserted.
		errs = append(errs, errors.New("queries.register_mobile: a PostgreSQL insert gives the new user's id back only with RETURNING: end it with RETURNING id"))
	}
	for key, src := range named {
		if src == "" {
			continue
		}
		q, err := parseQuery(src, cfg.Driver)
		if err != nil {
			errs = append(errs, fmt.Errorf("queries.%s: %w", key, err))
			continue
		}
		if _, err := q.args(paramsOf(key)); err != nil {
			errs = append(errs, fmt.Errorf("queries.%s: %w (it gets %s)", key, err, strings.Join(names(paramsOf(key)), ", ")))
			continue
		}
		d.q[key] = q
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("dsn: %w", err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	d.db = db
	if d.dummy, err = identity.DummyLike(""); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	err = d.checkAll(ctx)
	switch {
	case err == nil:
		d.setState(StateReady)
	case errors.Is(err, ErrUnreachable) && o.WaitForDatabase:
		d.setNotReady(err)
		d.setState(StateUnreachable)
	case errors.Is(err, ErrUnreachable):
		_ = db.Close()
		return nil, nil, fmt.Errorf("dsn: %w", err)
	default:
		_ = db.Close()
		return nil, nil, err
	}
	closeDB := db.Close
	if o.WaitForDatabase {
		go d.watch(cfg.RetryInterval)
		closeDB = func() error {
			close(d.stop)
			<-d.done
			return db.Close()
		}
	} else {
		close(d.done)
	}
	if _, ok := d.q["register_mobile"]; ok {
		return registering{d}, closeDB, nil
	}
	return d, closeDB, nil
}
