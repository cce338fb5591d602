package sqldir_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/directorytest"
	"github.com/authgate/authgate/identity/sqldir"
)

// The databases the tests use: the machine's PostgreSQL and MariaDB, or
// the servers these variables name. A missing server fails the tests.
func dsn(driver string) string {
	if driver == "postgres" {
		if v := os.Getenv("GATEWAY_TEST_POSTGRES_DSN"); v != "" {
			return v
		}
		return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if v := os.Getenv("GATEWAY_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/test"
}

var drivers = []string{"postgres", "mysql"}

// schema creates the suite's tables under names of the test's own, fills
// them with directorytest.Fixtures, and drops them when the test ends.
func schema(t *testing.T, driver string) (users string, db *sql.DB) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	users = "users_" + hex.EncodeToString(b)
	name := map[string]string{"postgres": "pgx", "mysql": "mysql"}[driver]
	db, err := sql.Open(name, dsn(driver))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("%s at %s: %v (set GATEWAY_TEST_POSTGRES_DSN / GATEWAY_TEST_MYSQL_DSN)", driver, dsn(driver), err)
	}
	ddl := []string{
		"CREATE TABLE " + users + " (id BIGSERIAL PRIMARY KEY, account TEXT NOT NULL UNIQUE, password_hash TEXT, salt TEXT, name TEXT, nick_name TEXT, mobile TEXT UNIQUE, default_company BIGINT, bo_user_id TEXT, bo_roles TEXT)",
		"CREATE TABLE " + users + "_companies (user_id BIGINT NOT NULL, company_id BIGINT NOT NULL)",
	}
	if driver == "mysql" {
		ddl = []string{
			"CREATE TABLE " + users + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, account VARCHAR(64) NOT NULL UNIQUE, password_hash VARCHAR(255), salt VARCHAR(64), name VARCHAR(64), nick_name VARCHAR(64), mobile VARCHAR(32) UNIQUE, default_company BIGINT, bo_user_id VARCHAR(64), bo_roles VARCHAR(255)) AUTO_INCREMENT=1000",
			"CREATE TABLE " + users + "_companies (user_id BIGINT NOT NULL, company_id BIGINT NOT NULL)",
		}
	}
	for _, s := range ddl {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP TABLE " + users + "_companies")
		_, _ = db.Exec("DROP TABLE " + users)
		_ = db.Close()
	})
	ph := func(n int) string {
		if driver == "postgres" {
			var p []string
			for i := 1; i <= n; i++ {
				p = append(p, "$"+strconv.Itoa(i))
			}
			return strings.Join(p, ", ")
		}
		return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	}
	for _, u := range directorytest.Fixtures() {
		var mobile, bo, roles any
		if u.Mobile != "" {
			mobile = u.Mobile
		}
		if u.BO != nil {
			bo, roles = u.BO.UserID, strings.Join(u.BO.RoleID, ",")
		}
		var def any
		if u.DefaultCompany != 0 {
			def = u.DefaultCompany
		}
		if _, err := db.Exec("INSERT INTO "+users+" (id, account, password_hash, salt, name, nick_name, mobile, default_company, bo_user_id, bo_roles) VALUES ("+ph(10)+")",
			u.ID, u.Account, u.Hash, u.Salt, u.Name, u.NickName, mobile, def, bo, roles); err != nil {
			t.Fatal(err)
		}
		for _, c := range u.Companies {
			if _, err := db.Exec("INSERT INTO "+users+"_companies (user_id, company_id) VALUES ("+ph(2)+")", u.ID, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if driver == "postgres" {
		if _, err := db.Exec("SELECT setval(pg_get_serial_sequence('" + users + "', 'id'), 1000)"); err != nil {
			t.Fatal(err)
		}
	}
	return users, db
}

// config is the block an operator would write for the suite's schema.
func config(driver, users string) sqldir.Config {
	cfg := sqldir.Defaults()
	cfg.Driver = driver
	cfg.LegacyScheme = directorytest.LegacyScheme
	cfg.UpgradeHashes = true
	cols := "SELECT id, account, password_hash, salt, name, nick_name, mobile, default_company, bo_user_id, bo_roles FROM " + users
	cfg.Queries = sqldir.Queries{
		ByAccount:          cols + " WHERE account = :account",
		ByID:               cols + " WHERE id = :id",
		ByMobile:           cols + " WHERE mobile = :mobile",
		Companies:          "SELECT company_id FROM " + users + "_companies WHERE user_id = :id ORDER BY company_id",
		RegisterMobile:     "INSERT INTO " + users + " (account, mobile, name) VALUES (:mobile, :mobile, :name)",
		UpdatePasswordHash: "UPDATE " + users + " SET password_hash = :password_hash, salt = '' WHERE id = :id",
	}
	if driver == "postgres" {
		cfg.Queries.RegisterMobile += " RETURNING id"
	}
	return cfg
}

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
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			directorytest.Run(t, func(t *testing.T) directorytest.Subject {
				users, db := schema(t, driver)
				return directorytest.Subject{
					Dir: open(t, config(driver, users), dsn(driver)), Legacy: true,
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
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := schema(t, driver)
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
					cfg := config(driver, users)
					c.edit(&cfg.Queries)
					_, _, err := sqldir.Open(context.Background(), cfg, dsn(driver), sqldir.Options{})
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

// proxy stands between the directory and the database, so a test can
// make the database hang (connections accepted, nothing answered) or
// vanish.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	hang   bool
	conns  []net.Conn
	target string
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			hang := p.hang
			p.mu.Unlock()
			if hang {
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// hangNow drops every connection and answers new ones with silence.
func (p *proxy) hangNow() {
	p.mu.Lock()
	p.hang = true
	p.mu.Unlock()
	p.cut()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseDownOrHungFailsClosed: once the database stops answering,
// every call fails with identity.ErrUnavailable within the query timeout
// (never a wrong-password verdict, never a hang).
func TestDatabaseDownOrHungFailsClosed(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := schema(t, driver)
			target := map[string]string{"postgres": "127.0.0.1:5432", "mysql": "127.0.0.1:3306"}[driver]
			p := newProxy(t, target)
			proxied := strings.Replace(dsn(driver), target, p.ln.Addr().String(), 1)
			cfg := config(driver, users)
			cfg.QueryTimeout = 300 * time.Millisecond
			d := open(t, cfg, proxied)
			if _, err := d.Authenticate(context.Background(), "demo", "demo123"); err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			p.hangNow()
			done := make(chan struct{})
			go func() {
				defer close(done)
				directorytest.AssertUnavailable(t, d)
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
