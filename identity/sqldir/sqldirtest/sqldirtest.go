// Package sqldirtest holds the SQL side of the directory tests: the
// machine's PostgreSQL and MariaDB (or the servers GATEWAY_TEST_POSTGRES_DSN
// and GATEWAY_TEST_MYSQL_DSN name; a missing server fails the tests), a
// schema of directorytest.Fixtures under table names of the test's own,
// and the config block an operator would write for it.
package sqldirtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/authgate/authgate/identity/directorytest"
	"github.com/authgate/authgate/identity/sqldir"
)

// The databases the tests use: the machine's PostgreSQL and MariaDB, or
// the servers these variables name. A missing server fails the tests.
func DSN(driver string) string {
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

// Drivers are the databases every SQL test runs on.
var Drivers = []string{"postgres", "mysql"}

// Schema creates the suite's tables under names of the test's own, fills
// them with directorytest.Fixtures, and drops them when the test ends.
func Schema(t testing.TB, driver string) (users string, db *sql.DB) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	users = "users_" + hex.EncodeToString(b)
	name := map[string]string{"postgres": "pgx", "mysql": "mysql"}[driver]
	db, err := sql.Open(name, DSN(driver))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("%s at %s: %v (set GATEWAY_TEST_POSTGRES_DSN / GATEWAY_TEST_MYSQL_DSN)", driver, DSN(driver), err)
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
		if p := u.Profiles["bo"]; p != nil {
			bo, roles = p.First("user_id"), strings.Join(p["role_id"], ",")
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

// Config is the block an operator would write for the suite's schema.
func Config(driver, users string) sqldir.Config {
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
