package sqldir

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/authgate/authgate/identity"
)

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
