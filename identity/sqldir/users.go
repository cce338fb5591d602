package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/identity"
)

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
func (d *Dir) user(ctx context.Context, key string, values map[string]any) (_ identity.User, _ string, err error) {
	ctx, span := otel.Tracer("github.com/authgate/authgate/identity/sqldir").Start(ctx, "directory.query",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("authgate.query", key)))
	defer func() {
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			span.SetStatus(codes.Error, "query failed")
		}
		span.End()
	}()
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
		u.Profiles = map[string]identity.Profile{"bo": boProfile(row["bo_user_id"], row["bo_client_id"], row["bo_push_name"], list(row["bo_roles"]), list(row["bo_owners"]))}
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
		_, _ = d.verify(ctx, d.dummy, password)
		return identity.User{}, identity.ErrBadCredentials
	}
	if err != nil {
		return identity.User{}, err
	}
	stored := u.PasswordHash
	u.PasswordHash = ""
	if identity.SelfDescribing(stored) {
		ok, err := d.verify(ctx, stored, password)
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

// boProfile is the bo profile of the bo_* columns; what its fields mean,
// and their defaults, are the bov3 dialect's.
func boProfile(userID, clientID, pushName string, roles, owners []string) identity.Profile {
	p := identity.Profile{"user_id": {userID}, "role_id": roles, "owners": owners}
	if clientID != "" {
		p["client_id"] = []string{clientID}
	}
	if pushName != "" {
		p["push_name"] = []string{pushName}
	}
	return p
}
