package sqldir_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/directorytest"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/identity/sqldir/sqldirtest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

func open(t *testing.T, cfg sqldir.Config, dsn string) identity.Directory {
	t.Helper()
	d, closeDB, err := sqldir.Open(context.Background(), cfg, dsn, sqldir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeDB() })
	return d
}

func TestConformance(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			directorytest.Run(t, func(t *testing.T) directorytest.Subject {
				users, db := sqldirtest.Schema(t, driver)
				return directorytest.Subject{
					Dir: open(t, sqldirtest.Config(driver, users), sqldirtest.DSN(driver)), Legacy: true,
					StoredHash: func(t *testing.T, id int64) string {
						var h string
						q := "SELECT password_hash FROM " + users + " WHERE id = $1"
						if driver == "mysql" {
							q = "SELECT password_hash FROM " + users + " WHERE id = ?"
						}
						if err := db.QueryRow(q, id).Scan(&h); err != nil {
							t.Fatal(err)
						}
						return h
					},
				}
			})
		})
	}
}

// TestBadQueriesRefusedAtStart: a query the database refuses, a column
// that is missing or unknown, a parameter a query does not get: each is a
// problem naming its key, with the database's reason.
func TestBadQueriesRefusedAtStart(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			for name, c := range map[string]struct {
				edit func(*sqldir.Queries)
				want []string
			}{
				"syntax": {func(q *sqldir.Queries) { q.ByID = "SELEKT id FROM " + users }, []string{"queries.by_id: the database refuses it"}},
				"no such table": {func(q *sqldir.Queries) {
					q.ByMobile = "SELECT id, account FROM nope_" + users + " WHERE mobile = :mobile"
				}, []string{"queries.by_mobile: the database refuses it"}},
				"missing column": {func(q *sqldir.Queries) { q.ByID = "SELECT id, name FROM " + users + " WHERE id = :id" }, []string{`queries.by_id: column "account" is missing`}},
				"unknown column": {func(q *sqldir.Queries) {
					q.ByID = "SELECT id, account, salt AS sallt FROM " + users + " WHERE id = :id"
				}, []string{`queries.by_id: column "sallt" is not one of`}},
				"wrong parameter": {func(q *sqldir.Queries) { q.ByAccount = "SELECT id, account FROM " + users + " WHERE account = :acount" }, []string{"queries.by_account: parameter :acount is not one this query gets"}},
				"update table": {func(q *sqldir.Queries) {
					q.UpdatePasswordHash = "UPDATE nope_" + users + " SET password_hash = :password_hash WHERE id = :id"
				}, []string{"queries.update_password_hash: the database refuses it"}},
			} {
				t.Run(name, func(t *testing.T) {
					cfg := sqldirtest.Config(driver, users)
					c.edit(&cfg.Queries)
					_, _, err := sqldir.Open(context.Background(), cfg, sqldirtest.DSN(driver), sqldir.Options{})
					for _, w := range c.want {
						if err == nil || !strings.Contains(err.Error(), w) {
							t.Errorf("Open = %v, want %q", err, w)
						}
					}
				})
			}
		})
	}
}

// TestDatabaseDownOrHungFailsClosed: once the database stops answering,
// every call fails with identity.ErrUnavailable within the query timeout
// (never a wrong-password verdict, never a hang).
func TestDatabaseDownOrHungFailsClosed(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			p := sqldirtest.NewProxy(t, driver)
			proxied := p.DSN(driver)
			cfg := sqldirtest.Config(driver, users)
			cfg.QueryTimeout = 300 * time.Millisecond
			d := open(t, cfg, proxied)
			if _, err := d.Authenticate(context.Background(), "demo", "demo123"); err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			table := d.(identity.TableReader)
			cols, rows, err := table.ReadTable(context.Background(), "SELECT id, account AS Login FROM "+users+" ORDER BY id")
			if err != nil || len(rows) != len(directorytest.Fixtures()) || cols[1] != "login" || rows[0]["id"] != "10" || rows[0]["login"] != "demo" {
				t.Fatalf("ReadTable = %v %v, %v", cols, rows, err)
			}
			if _, _, err := table.ReadTable(context.Background(), "SELECT id FROM "+users+" WHERE id = :id"); err == nil || errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("a table query with a parameter: %v", err)
			}
			p.Hang()
			done := make(chan struct{})
			go func() {
				defer close(done)
				directorytest.AssertUnavailable(t, d)
				if _, _, err := table.ReadTable(context.Background(), "SELECT id FROM "+users); !errors.Is(err, identity.ErrUnavailable) {
					t.Errorf("ReadTable of a hung database = %v, want ErrUnavailable", err)
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("a hung database hung the directory")
			}
			if _, err := d.ByID(context.Background(), 10); !errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// stateLog records the states a directory reports.
type stateLog struct {
	mu     sync.Mutex
	states []string
}

func (s *stateLog) add(state string) { s.mu.Lock(); s.states = append(s.states, state); s.mu.Unlock() }

func (s *stateLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.states) == 0 {
		return ""
	}
	return s.states[len(s.states)-1]
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartsWithoutTheDatabase: with WaitForDatabase, a database that does
// not answer at start is no error: every call answers unavailable (never
// a wrong password, never not-found) and says why, the state is
// unreachable; once the database answers the queries are checked and the
// directory serves. Without it, Open fails with ErrUnreachable.
func TestStartsWithoutTheDatabase(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			p := sqldirtest.NewProxy(t, driver)
			p.Refuse()
			cfg := sqldirtest.Config(driver, users)
			cfg.QueryTimeout, cfg.RetryInterval = 300*time.Millisecond, 20*time.Millisecond

			if _, _, err := sqldir.Open(context.Background(), cfg, p.DSN(driver), sqldir.Options{}); !errors.Is(err, sqldir.ErrUnreachable) {
				t.Fatalf("Open without WaitForDatabase = %v, want ErrUnreachable", err)
			}

			states := &stateLog{}
			d, closeDB, err := sqldir.Open(context.Background(), cfg, p.DSN(driver), sqldir.Options{WaitForDatabase: true, State: states.add})
			if err != nil {
				t.Fatalf("Open with WaitForDatabase = %v", err)
			}
			t.Cleanup(func() { _ = closeDB() })
			pending := d.(interface{ Pending() error })
			if err := pending.Pending(); err == nil || !strings.Contains(err.Error(), "the database does not answer (") {
				t.Fatalf("Pending = %v", err)
			}
			if states.last() != sqldir.StateUnreachable {
				t.Fatalf("state = %q, want unreachable", states.last())
			}
			directorytest.AssertUnavailable(t, d)
			if _, _, err := d.(identity.Registrar).RegisterMobile(context.Background(), identity.Registration{Mobile: "13700000001"}); !errors.Is(err, identity.ErrUnavailable) {
				t.Fatalf("RegisterMobile while waiting = %v", err)
			}

			p.Resume()
			waitFor(t, "the directory to be ready", func() bool { return pending.Pending() == nil })
			if u, err := d.Authenticate(context.Background(), "demo", "demo123"); err != nil || u.ID != 10 {
				t.Fatalf("Authenticate once the database answers = %+v, %v", u, err)
			}
			if states.last() != sqldir.StateReady {
				t.Fatalf("state = %q, want ready", states.last())
			}
			// Gone again after it was checked: unreachable, and calls fail
			// closed as before.
			p.Refuse()
			waitFor(t, "the state to say unreachable", func() bool { return states.last() == sqldir.StateUnreachable })
			directorytest.AssertUnavailable(t, d)
		})
	}
}

// TestQueryBrokenAfterStart: a query that the database refuses once it
// answers (its table is missing) leaves the directory broken: calls stay
// unavailable saying which query failed, and the check is told each time;
// once the schema is fixed the directory serves.
func TestQueryBrokenAfterStart(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			p := sqldirtest.NewProxy(t, driver)
			p.Refuse()
			cfg := sqldirtest.Config(driver, users)
			cfg.QueryTimeout, cfg.RetryInterval = 300*time.Millisecond, 20*time.Millisecond
			cfg.Queries.Companies = "SELECT company_id FROM " + users + "_memberships WHERE user_id = :id"
			states := &stateLog{}
			d, closeDB, err := sqldir.Open(context.Background(), cfg, p.DSN(driver), sqldir.Options{WaitForDatabase: true, State: states.add})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = closeDB() })
			p.Resume()
			waitFor(t, "the broken state", func() bool { return states.last() == sqldir.StateBroken })
			_, err = d.Authenticate(context.Background(), "demo", "demo123")
			if !errors.Is(err, identity.ErrUnavailable) || !strings.Contains(err.Error(), "queries.companies: the database refuses it") {
				t.Fatalf("Authenticate with a broken query = %v", err)
			}
			if _, err := db.Exec("CREATE TABLE " + users + "_memberships (user_id BIGINT, company_id BIGINT)"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + users + "_memberships") })
			waitFor(t, "the ready state", func() bool { return states.last() == sqldir.StateReady })
			if _, err := d.Authenticate(context.Background(), "demo", "demo123"); err != nil {
				t.Fatalf("Authenticate once fixed = %v", err)
			}
		})
	}
}

// TestMistakesFoundAtStart: a PostgreSQL register_mobile without
// RETURNING, and a DSN of the other driver, are refused naming the key
// (the DSN never printed).
func TestMistakesFoundAtStart(t *testing.T) {
	users, _ := sqldirtest.Schema(t, "postgres")
	cfg := sqldirtest.Config("postgres", users)
	cfg.Queries.RegisterMobile = strings.TrimSuffix(cfg.Queries.RegisterMobile, " RETURNING id")
	_, _, err := sqldir.Open(context.Background(), cfg, sqldirtest.DSN("postgres"), sqldir.Options{})
	if err == nil || !strings.Contains(err.Error(), "queries.register_mobile: a PostgreSQL insert gives the new user's id back only with RETURNING: end it with RETURNING id") {
		t.Fatalf("register_mobile without RETURNING: %v", err)
	}
	for driver, dsn := range map[string]string{
		"mysql":    "postgres://app:hunter2@db:5432/users",
		"postgres": "app:hunter2@tcp(db:3306)/users",
	} {
		cfg := sqldirtest.Config(driver, users)
		_, _, err := sqldir.Open(context.Background(), cfg, dsn, sqldir.Options{})
		other := map[string]string{"mysql": "PostgreSQL", "postgres": "MySQL"}[driver]
		if err == nil || !strings.Contains(err.Error(), "dsn: this is a "+other+" DSN") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("a %s DSN under driver %s: %v", other, driver, err)
		}
	}
}

// TestUpgradesHeld: while HoldUpgrades says so, a legacy login leaves the
// digest as the legacy service wrote it (counted as held); with
// upgrade_beside the hash is written all the same.
func TestUpgradesHeld(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			var mu sync.Mutex
			var results []string
			hold := true
			o := sqldir.Options{
				HoldUpgrades: func() bool { mu.Lock(); defer mu.Unlock(); return hold },
				Upgraded:     func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() },
			}
			d := openWith(t, sqldirtest.Config(driver, users), o)
			stored := func() string {
				var h string
				if err := db.QueryRow("SELECT password_hash FROM " + users + " WHERE id = 11").Scan(&h); err != nil {
					t.Fatal(err)
				}
				return h
			}
			before := stored()
			if _, err := d.Authenticate(context.Background(), "legacy", "old-pass"); err != nil {
				t.Fatal(err)
			}
			if stored() != before {
				t.Fatalf("the digest was rewritten while upgrades are held: %q", stored())
			}
			mu.Lock()
			hold = false
			mu.Unlock()
			if _, err := d.Authenticate(context.Background(), "legacy", "old-pass"); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(stored(), "$argon2id$") {
				t.Fatalf("no upgrade once released: %q", stored())
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(results, ",") != "held,ok" {
				t.Fatalf("upgrade results %v, want held, ok", results)
			}
		})
	}
}

func openWith(t *testing.T, cfg sqldir.Config, o sqldir.Options) identity.Directory {
	t.Helper()
	d, closeDB, err := sqldir.Open(context.Background(), cfg, sqldirtest.DSN(cfg.Driver), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeDB() })
	return d
}

// TestQueriesAreTraced: with a tracer provider set (tracing on), each
// user lookup is a client span of the request's trace naming its query
// (never a value); a user not found is no error.
func TestQueriesAreTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	users, _ := sqldirtest.Schema(t, "postgres")
	d := open(t, sqldirtest.Config("postgres", users), sqldirtest.DSN("postgres"))
	ctx, parent := otel.Tracer("test").Start(context.Background(), "request")
	if _, err := d.ByAccount(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ByAccount(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("nobody: %v", err)
	}
	parent.End()
	var queries []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "directory.query" {
			queries = append(queries, sp)
		}
	}
	if len(queries) != 2 {
		t.Fatalf("%d query spans, want 2", len(queries))
	}
	for _, sp := range queries {
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.Status().Code == codes.Error {
			t.Errorf("span: parent %v status %v", sp.Parent().SpanID(), sp.Status())
		}
		for _, a := range sp.Attributes() {
			if a.Key == "authgate.query" && a.Value.AsString() != "by_account" {
				t.Errorf("query attribute %v", a.Value.AsString())
			}
			if strings.Contains(a.Value.Emit(), "demo") {
				t.Errorf("a value in the span: %v", a)
			}
		}
	}
}
