package deploy_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity/sqldir/sqldirtest"
)

// TestSQLExamples applies each example schema to a database of its own,
// builds the gateway from the example config against it (its queries
// checked at start), and logs the example's legacy user in (the md5
// digest works once and is argon2id after) and its partner app.
func TestSQLExamples(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			name := "ex_" + hex.EncodeToString(b)
			admin, err := sql.Open(map[string]string{"postgres": "pgx", "mysql": "mysql"}[driver], sqldirtest.DSN(driver))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			dsn := sqldirtest.DSN(driver)
			if driver == "postgres" {
				must(t, exec(admin, "CREATE SCHEMA "+name))
				t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + name + " CASCADE") })
				dsn += "&search_path=" + name
			} else {
				must(t, exec(admin, "CREATE DATABASE "+name))
				t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE " + name) })
				dsn = strings.Replace(dsn, "/test", "/"+name, 1)
			}
			db, err := sql.Open(map[string]string{"postgres": "pgx", "mysql": "mysql"}[driver], dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			schema, err := os.ReadFile("sql/" + driver + "-schema.sql")
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range strings.Split(string(schema), ";\n") {
				if s := strings.TrimSpace(stripComments(stmt)); s != "" {
					must(t, exec(db, s))
				}
			}
			env := map[string]string{"AUTHGATE_SECRET_USERS_DSN": dsn, "AUTHGATE_SECRET_MMM": "example-mmm-signing-key-0123456789abcdef",
				"AUTHGATE_SECRET_MOBILE": "example-mobile-signing-key-0123456789abcd", "AUTHGATE_SECRET_SMS_WEBHOOK": "example-webhook-secret-0123",
				"AUTHGATE_SECRET_APPKEY": "example-appkey-signing-key-0123456789abc"}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			cfg, err := config.Load("sql/config."+driver+".yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			store, err := backend.OpenStore(cfg, lookup, nil)
			if err != nil {
				t.Fatal(err)
			}
			g, err := gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Store: store, LookupEnv: lookup,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			srv := httptest.NewServer(g.Handler())
			defer srv.Close()
			r := dialecttest.Send(t, srv.URL, "POST", "/auth/login", nil, `{"account":"alice","password":"wonderland"}`)
			if r.Str(t, "code") != "00000" {
				t.Fatalf("alice's login = %s", r.Raw)
			}
			var pwd string
			if err := db.QueryRow("SELECT pwd FROM users WHERE login_name = 'alice'").Scan(&pwd); err != nil || !strings.HasPrefix(pwd, "$argon2id$") {
				t.Fatalf("alice's pwd after the login = %q, %v", pwd, err)
			}
			if r := dialecttest.Send(t, srv.URL, "POST", "/auth/login", nil, `{"account":"alice","password":"wonderland"}`); r.Str(t, "code") != "00000" {
				t.Fatalf("alice's login after the upgrade = %s", r.Raw)
			}
			// The example partner app logs in from the partner_apps table.
			r = dialecttest.Send(t, srv.URL, "POST", "/api/base/token/login", nil,
				`{"appId":"partner-1","appKey":"partner-1-key","appSecret":"partner-secret","loginType":"APP_KEY"}`)
			if r.Status != 200 || r.Str(t, "accessToken") == "" {
				t.Fatalf("partner-1's login = %d %s", r.Status, r.Raw)
			}
		})
	}
}

func exec(db *sql.DB, stmt string) error { _, err := db.Exec(stmt); return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func stripComments(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
