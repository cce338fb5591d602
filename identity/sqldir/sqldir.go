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
	// LegacyScheme reads password_hash values that are bare digests
	// ("md5(salt+password)"); argon2id and bcrypt values are read as such.
	LegacyScheme string `koanf:"legacy_scheme"`
	// UpgradeHashes rewrites a legacy digest as argon2id after a
	// successful login, through queries.update_password_hash.
	UpgradeHashes bool    `koanf:"upgrade_hashes"`
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
	return Config{MaxOpenConns: 10, ConnMaxLifetime: 30 * time.Minute, QueryTimeout: 2 * time.Second}
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
	// Upgraded is told of each hash upgrade attempt (for a metric).
	Upgraded func(ok bool)
}

// Dir is the sql directory.
type Dir struct {
	db      *sql.DB
	cfg     Config
	legacy  *identity.LegacyScheme
	q       map[string]query
	verify  identity.Verifier
	log     *slog.Logger
	upgrade func(bool)
	dummy   string
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
// every problem, each naming its key under the block.
func Open(ctx context.Context, cfg Config, dsn string, o Options) (identity.Directory, func() error, error) {
	var errs []error
	driver := map[string]string{"postgres": "pgx", "mysql": "mysql"}[cfg.Driver]
	if driver == "" {
		return nil, nil, fmt.Errorf("driver: %q is not one of postgres, mysql", cfg.Driver)
	}
	d := &Dir{cfg: cfg, q: map[string]query{}, verify: o.Verify, log: o.Logger, upgrade: o.Upgraded}
	if d.verify == nil {
		d.verify = identity.VerifySecret
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.upgrade == nil {
		d.upgrade = func(bool) {}
	}
	if cfg.LegacyScheme != "" {
		l, err := identity.ParseLegacyScheme(cfg.LegacyScheme)
		if err != nil {
			errs = append(errs, fmt.Errorf("legacy_scheme: %w", err))
		}
		d.legacy = &l
	}
	if cfg.QueryTimeout <= 0 || cfg.MaxOpenConns < 1 {
		errs = append(errs, errors.New("query_timeout and max_open_conns must be positive"))
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
	pctx, cancel := context.WithTimeout(ctx, 3*cfg.QueryTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("dsn: the database does not answer: %w", err)
	}
	for key, q := range d.q {
		if err := d.check(pctx, key, q); err != nil {
			errs = append(errs, fmt.Errorf("queries.%s: %w", key, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	if d.dummy, err = identity.DummyLike(""); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	if _, ok := d.q["register_mobile"]; ok {
		return registering{d}, db.Close, nil
	}
	return d, db.Close, nil
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

// upgradeHash rewrites a legacy digest as argon2id. A failure is logged
// and counted; the login it follows stands.
func (d *Dir) upgradeHash(ctx context.Context, id int64, password string) {
	hash, err := identity.HashSecret(password)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
		defer cancel()
		q := d.q["update_password_hash"]
		args, _ := q.args(map[string]any{"id": id, "password_hash": hash})
		_, err = d.db.ExecContext(ctx, q.text, args...)
	}
	d.upgrade(err == nil)
	if err != nil {
		d.log.WarnContext(ctx, "password hash upgrade failed; the login stands", "user_id", id, "err", err)
		return
	}
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
