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
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
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
		d.verify = identity.VerifySecret
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

// checkAll pings the database and checks every query against it; on
// success the directory serves. An error wraps ErrUnreachable when the
// database did not answer, and lists every query's problem otherwise.
func (d *Dir) checkAll(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 3*d.cfg.QueryTimeout)
	defer cancel()
	if err := d.db.PingContext(pctx); err != nil {
		return fmt.Errorf("%w (%v)", ErrUnreachable, err)
	}
	var errs []error
	for key, q := range d.q {
		if err := d.check(pctx, key, q); err != nil {
			errs = append(errs, fmt.Errorf("queries.%s: %w", key, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// A database that went away during the checks is not a query's
		// fault.
		if perr := d.db.PingContext(pctx); perr != nil {
			return fmt.Errorf("%w (%v)", ErrUnreachable, perr)
		}
		return err
	}
	d.checked.Store(true)
	return nil
}

// watch runs while the gateway does: until the queries have passed their
// check it asks the database again every interval (a query that fails is
// logged, the directory broken, and asked again: a migration may fix
// it); then it keeps the state current (ready or unreachable).
func (d *Dir) watch(every time.Duration) {
	defer close(d.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		ctx := context.Background()
		if d.checked.Load() {
			pctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
			err := d.db.PingContext(pctx)
			cancel()
			if err != nil {
				d.setState(StateUnreachable)
			} else {
				d.setState(StateReady)
			}
			continue
		}
		err := d.checkAll(ctx)
		switch {
		case err == nil:
			d.setState(StateReady)
			d.log.Info("the user database answers and every query passed its check: logins are served")
		case errors.Is(err, ErrUnreachable):
			d.setState(StateUnreachable)
		default:
			d.setNotReady(fmt.Errorf("a query failed its check against the user database (logins stay refused until it passes): %w", err))
			if d.setState(StateBroken) {
				d.log.Error("the user database answers, but a query failed its check: logins and refreshes that need it stay refused; fix the query or the schema (checked again every interval)",
					"err", err.Error())
			}
		}
	}
}

// setState records the directory's state and tells Options.State (each
// time: a broken check is counted each time it fails); it reports
// whether the state changed.
func (d *Dir) setState(s string) bool {
	d.onState(s)
	if d.state == s {
		return false
	}
	d.state = s
	return true
}

func (d *Dir) setNotReady(err error) { d.notReady.Store(&err) }

// Pending is nil once every query has passed its check against the
// database, else why the directory answers unavailable: what start-up
// and check-config report when the database did not answer.
func (d *Dir) Pending() error {
	if d.checked.Load() {
		return nil
	}
	if p := d.notReady.Load(); p != nil {
		return *p
	}
	return errors.New("the user database's queries are not checked yet")
}

// ready is nil once the queries have passed their check, else why the
// directory cannot answer yet, as identity.ErrUnavailable.
func (d *Dir) ready(op string) error {
	if err := d.Pending(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// checkDSN names a DSN of the other driver in words (never the DSN: it
// holds the password).
func checkDSN(driver, dsn string) error {
	pgStyle := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || strings.Contains(dsn, "host=")
	myStyle := strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix(")
	switch {
	case driver == "mysql" && pgStyle:
		return errors.New("dsn: this is a PostgreSQL DSN (postgres://... or host=...) under driver mysql: set identity.sql.driver: postgres, or give a MySQL DSN (user:password@tcp(host:3306)/database)")
	case driver == "postgres" && myStyle:
		return errors.New("dsn: this is a MySQL DSN (user@tcp(host:port)/database) under driver postgres: set identity.sql.driver: mysql, or give a PostgreSQL DSN (postgres://user:password@host:5432/database)")
	case driver == "mysql":
		if _, err := mysql.ParseDSN(dsn); err != nil {
			return errors.New("dsn: not a MySQL DSN (user:password@tcp(host:3306)/database)")
		}
	case driver == "postgres":
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			return errors.New("dsn: not a PostgreSQL DSN (postgres://user:password@host:5432/database)")
		}
	}
	return nil
}

// paramsOf is what each query gets, with sample values for the check.
func paramsOf(key string) map[string]any {
	switch key {
	case "by_account":
		return map[string]any{"account": ""}
	case "by_id", "companies":
		return map[string]any{"id": int64(0)}
	case "by_mobile":
		return map[string]any{"mobile": ""}
	case "register_mobile":
		return map[string]any{"mobile": "", "source": "", "name": ""}
	default:
		return map[string]any{"id": int64(0), "password_hash": ""}
	}
}

func names(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, ":"+k)
	}
	return out
}

// check prepares q and, for a lookup, runs it with values that find
// nothing to read its columns: a typo in a column is refused at start.
func (d *Dir) check(ctx context.Context, key string, q query) error {
	stmt, err := d.db.PrepareContext(ctx, q.text)
	if err != nil {
		return fmt.Errorf("the database refuses it: %w", err)
	}
	_ = stmt.Close()
	var want, allowed []string
	switch key {
	case "by_account", "by_id", "by_mobile":
		want, allowed = []string{"id", "account"}, UserColumns
	case "companies":
		want, allowed = []string{"company_id"}, []string{"company_id"}
	default:
		return nil
	}
	args, _ := q.args(paramsOf(key))
	rows, err := d.db.QueryContext(ctx, q.text, args...)
	if err != nil {
		return fmt.Errorf("the database refuses it: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, c := range cols {
		c = strings.ToLower(c)
		if !contains(allowed, c) {
			return fmt.Errorf("column %q is not one of %s", c, strings.Join(allowed, ", "))
		}
		have[c] = true
	}
	for _, c := range want {
		if !have[c] {
			return fmt.Errorf("column %q is missing (name the columns with AS: SELECT user_id AS id, ...)", c)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unavailable wraps a database error as the directory not answering.
func unavailable(op string, err error) error {
	return fmt.Errorf("sqldir: %s: %w: %w", op, identity.ErrUnavailable, err)
}

// ReadTable implements identity.TableReader. The query takes no
// parameters; it is prepared and run within the query timeout.
func (d *Dir) ReadTable(ctx context.Context, src string) ([]string, []map[string]string, error) {
	q, err := parseQuery(src, d.cfg.Driver)
	if err == nil && len(q.names) > 0 {
		err = fmt.Errorf("parameter :%s: this query gets none", q.names[0])
	}
	if err != nil {
		return nil, nil, err
	}
	if err := d.ready("read table"); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, q.text)
	if isServerError(err) {
		return nil, nil, fmt.Errorf("the database refuses it: %w", err)
	}
	if err != nil {
		return nil, nil, unavailable("read table", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, unavailable("read table", err)
	}
	for i := range cols {
		cols[i] = strings.ToLower(cols[i])
	}
	var out []map[string]string
	for rows.Next() {
		row, err := scanRow(rows, cols)
		if err != nil {
			return nil, nil, unavailable("read table", err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable("read table", err)
	}
	return cols, out, nil
}

// scanRow reads the current row as column → text, NULL as "", under the
// lower-cased names cols.
func scanRow(rows *sql.Rows, cols []string) (map[string]string, error) {
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	row := make(map[string]string, len(cols))
	for i, c := range cols {
		row[c] = vals[i].String
	}
	return row, nil
}

// user runs a user query and reads its one row (ErrNotFound for none).
func (d *Dir) user(ctx context.Context, key string, values map[string]any) (identity.User, string, error) {
	if err := d.ready(key); err != nil {
		return identity.User{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	defer cancel()
	q := d.q[key]
	args, _ := q.args(values)
	rows, err := d.db.QueryContext(ctx, q.text, args...)
	if err != nil {
		return identity.User{}, "", unavailable(key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return identity.User{}, "", unavailable(key, err)
		}
		return identity.User{}, "", identity.ErrNotFound
	}
	cols, _ := rows.Columns()
	for i := range cols {
		cols[i] = strings.ToLower(cols[i])
	}
	row, err := scanRow(rows, cols)
	if err != nil {
		return identity.User{}, "", unavailable(key, err)
	}
	rows.Close()
	u, err := fromRow(row)
	if err != nil {
		return identity.User{}, "", fmt.Errorf("sqldir: %s: %w", key, err)
	}
	if err := d.companies(ctx, &u); err != nil {
		return identity.User{}, "", err
	}
	return u, row["salt"], nil
}

func fromRow(row map[string]string) (identity.User, error) {
	id, err := strconv.ParseInt(row["id"], 10, 64)
	if err != nil {
		return identity.User{}, fmt.Errorf("id %q is not an integer", row["id"])
	}
	u := identity.User{ID: id, Account: row["account"], PasswordHash: row["password_hash"], Name: row["name"],
		NickName: row["nick_name"], Mobile: row["mobile"], AvatarURL: row["avatar_url"]}
	if v := row["default_company"]; v != "" {
		if u.DefaultCompany, err = strconv.ParseInt(v, 10, 64); err != nil {
			return identity.User{}, fmt.Errorf("default_company %q is not an integer", v)
		}
	}
	if row["bo_user_id"] != "" {
		u.BO = &identity.BOProfile{UserID: row["bo_user_id"], ClientID: row["bo_client_id"], PushName: row["bo_push_name"],
			RoleID: list(row["bo_roles"]), Owners: list(row["bo_owners"])}
		if u.BO.ClientID == "" {
			u.BO.ClientID = u.BO.UserID
		}
	}
	return u, nil
}

func list(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// companies fills the user's companies from the companies query.
func (d *Dir) companies(ctx context.Context, u *identity.User) error {
	q, ok := d.q["companies"]
	if !ok {
		if u.DefaultCompany != 0 {
			u.Companies = []int64{u.DefaultCompany}
		}
		return nil
	}
	args, _ := q.args(map[string]any{"id": u.ID})
	rows, err := d.db.QueryContext(ctx, q.text, args...)
	if err != nil {
		return unavailable("companies", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			return unavailable("companies", err)
		}
		u.Companies = append(u.Companies, c)
	}
	if err := rows.Err(); err != nil {
		return unavailable("companies", err)
	}
	if u.DefaultCompany == 0 && len(u.Companies) > 0 {
		u.DefaultCompany = u.Companies[0]
	}
	return nil
}

// Authenticate implements identity.Directory. An unknown account runs one
// check against a dummy argon2id hash, the kind the table converges to
// with upgrade_hashes.
func (d *Dir) Authenticate(ctx context.Context, account, password string) (identity.User, error) {
	u, salt, err := d.user(ctx, "by_account", map[string]any{"account": account})
	if errors.Is(err, identity.ErrNotFound) {
		_, _ = d.verify(d.dummy, password)
		return identity.User{}, identity.ErrBadCredentials
	}
	if err != nil {
		return identity.User{}, err
	}
	stored := u.PasswordHash
	u.PasswordHash = ""
	if identity.SelfDescribing(stored) {
		ok, err := d.verify(stored, password)
		if err != nil {
			return identity.User{}, fmt.Errorf("sqldir: account %q: %w", account, err)
		}
		if !ok {
			return identity.User{}, identity.ErrBadCredentials
		}
		if d.cfg.UpgradeHashes && identity.Upgradable(stored) {
			d.upgradeHash(ctx, u.ID, password)
		}
		return u, nil
	}
	if d.legacy == nil || stored == "" || !d.legacy.Verify(stored, salt, password) {
		return identity.User{}, identity.ErrBadCredentials
	}
	if d.cfg.UpgradeHashes {
		d.upgradeHash(ctx, u.ID, password)
	}
	return u, nil
}

// upgradeHash rewrites a legacy digest as argon2id, unless upgrades are
// held (a legacy window is open: the legacy service must still read the
// digest after a rollback). A failure is logged and counted; the login it
// follows stands.
func (d *Dir) upgradeHash(ctx context.Context, id int64, password string) {
	if d.hold() {
		d.upgrade("held")
		return
	}
	hash, err := identity.HashSecret(password)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
		defer cancel()
		q := d.q["update_password_hash"]
		args, _ := q.args(map[string]any{"id": id, "password_hash": hash})
		_, err = d.db.ExecContext(ctx, q.text, args...)
	}
	if err != nil {
		d.upgrade("error")
		d.log.WarnContext(ctx, "password hash upgrade failed; the login stands", "user_id", id, "err", err)
		return
	}
	d.upgrade("ok")
	d.log.InfoContext(ctx, "password hash upgraded to argon2id", "user_id", id)
}

// ByID implements identity.Directory.
func (d *Dir) ByID(ctx context.Context, id int64) (identity.User, error) {
	u, _, err := d.user(ctx, "by_id", map[string]any{"id": id})
	u.PasswordHash = ""
	return u, err
}

// ByAccount implements identity.Directory.
func (d *Dir) ByAccount(ctx context.Context, account string) (identity.User, error) {
	u, _, err := d.user(ctx, "by_account", map[string]any{"account": account})
	u.PasswordHash = ""
	return u, err
}

// ByMobile implements identity.Directory.
func (d *Dir) ByMobile(ctx context.Context, mobile string) (identity.User, error) {
	u, _, err := d.user(ctx, "by_mobile", map[string]any{"mobile": mobile})
	u.PasswordHash = ""
	return u, err
}

// RegisterMobile implements identity.Registrar: the insert decides, by
// the table's unique constraint on the number, which of concurrent first
// logins creates the user; the others find it.
func (r registering) RegisterMobile(ctx context.Context, reg identity.Registration) (identity.User, bool, error) {
	if u, err := r.ByMobile(ctx, reg.Mobile); !errors.Is(err, identity.ErrNotFound) {
		return u, false, err
	}
	if err := r.ready("register_mobile"); err != nil {
		return identity.User{}, false, err
	}
	qctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	q := r.q["register_mobile"]
	args, _ := q.args(map[string]any{"mobile": reg.Mobile, "source": reg.Source, "name": reg.Name})
	var id int64
	var err error
	if strings.Contains(strings.ToUpper(q.text), "RETURNING") {
		err = r.db.QueryRowContext(qctx, q.text, args...).Scan(&id)
	} else {
		var res sql.Result
		if res, err = r.db.ExecContext(qctx, q.text, args...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	switch {
	case isUniqueViolation(err):
		u, err := r.ByMobile(ctx, reg.Mobile)
		return u, false, err
	case err != nil:
		return identity.User{}, false, unavailable("register_mobile", err)
	case id == 0:
		// The row may be in, but its user cannot be found: answered as
		// unavailable, so the SMS code is not spent on it.
		return identity.User{}, false, unavailable("register_mobile", errors.New("the insert gave no id back (a MySQL table needs an AUTO_INCREMENT id)"))
	}
	u, err := r.ByID(ctx, id)
	return u, true, err
}

// isServerError tells an answer of the database (a syntax error, a
// missing table) from one that did not come (down, timed out).
func isServerError(err error) bool {
	var pg *pgconn.PgError
	var my *mysql.MySQLError
	return errors.As(err, &pg) || errors.As(err, &my)
}

// isUniqueViolation tells a duplicate key from other failures, for both
// drivers: PostgreSQL's 23505, MySQL's 1062.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	var my *mysql.MySQLError
	return errors.As(err, &pg) && pg.Code == "23505" || errors.As(err, &my) && my.Number == 1062
}
