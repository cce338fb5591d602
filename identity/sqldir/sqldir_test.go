package sqldir_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/directorytest"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/identity/sqldir/sqldirtest"
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
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			target := map[string]string{"postgres": "127.0.0.1:5432", "mysql": "127.0.0.1:3306"}[driver]
			p := newProxy(t, target)
			proxied := strings.Replace(sqldirtest.DSN(driver), target, p.ln.Addr().String(), 1)
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
			p.hangNow()
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
