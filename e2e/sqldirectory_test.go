package e2e_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/gateway/gatewaytest"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity/sqldir/sqldirtest"
	"github.com/authgate/authgate/sms/smstest"
)

// sqlIdentity is the identity block of a sql directory over the test's
// own tables, the DSN read from the environment variable TEST_DSN.
func sqlIdentity(driver, users string) string {
	c := sqldirtest.Config(driver, users)
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return "identity:\n  type: sql\n  sql:\n    driver: " + driver + "\n    dsn_env: TEST_DSN\n    legacy_scheme: " + c.LegacyScheme +
		"\n    upgrade_hashes: true\n    queries:\n" +
		"      by_account: " + q(c.Queries.ByAccount) + "\n      by_id: " + q(c.Queries.ByID) + "\n      by_mobile: " + q(c.Queries.ByMobile) +
		"\n      companies: " + q(c.Queries.Companies) + "\n      register_mobile: " + q(c.Queries.RegisterMobile) +
		"\n      update_password_hash: " + q(c.Queries.UpdatePasswordHash) + "\n"
}

// TestDialectsLogInAgainstTheUserDatabase: mmm, bov3 and mobile logins
// over HTTP against the legacy users table in PostgreSQL and MariaDB; a
// legacy md5 password works and is upgraded; a new mobile number is
// registered in the table itself.
func TestDialectsLogInAgainstTheUserDatabase(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			t.Setenv("TEST_DSN", sqldirtest.DSN(driver))
			svc := smstest.NewReceiver(t)
			tg := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: sqlIdentity(driver, users),
				More: "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    ") +
					"  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      enforcement: off\n",
				Routes: gatewaytest.DefaultRoutes})
			p := tg.Login(t)
			if _, seen := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil || seen["X-Auth-User-Id"][0] != "10" {
				t.Fatalf("mmm user from the database: %v", seen)
			}
			r := tg.Do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p.Access}, `{"company_id": 2}`)
			if r.Code(t) != "00000" {
				t.Fatalf("companies from the database: %s", r.Raw)
			}
			if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"nope"}`); r.Code(t) != "10003" {
				t.Fatalf("wrong password = %s", r.Raw)
			}
			// The legacy md5(salt+password) user logs in unchanged, and from
			// then on has an argon2id hash.
			if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"legacy","password":"old-pass"}`); r.Code(t) != "00000" {
				t.Fatalf("legacy login = %s", r.Raw)
			}
			var stored string
			q := "SELECT password_hash FROM " + users + " WHERE id = 11"
			if err := db.QueryRow(q).Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") {
				t.Fatalf("stored hash after the legacy login = %q, %v", stored, err)
			}
			// bov3 reads the bo profile columns.
			r = tg.Do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p"}, `{"userName":"demo","password":"demo123"}`)
			if r.Status != 200 || r.Data(t)["tokenUser"].(map[string]any)["userId"] != "ptdev" {
				t.Fatalf("bov3 login = %d %s", r.Status, r.Raw)
			}
			// A new number is registered in the users table.
			m := &gatewaytest.MobileEnv{Gateway: tg, SMS: svc}
			l := m.Login(t, "13600000066", "d")
			var account string
			if err := db.QueryRow(fmt.Sprintf("SELECT account FROM %s WHERE id = %d", users, l.ID)).Scan(&account); err != nil || account != "13600000066" {
				t.Fatalf("the new number is not a row of the users table: %q, %v", account, err)
			}
			resp, err := http.Get(tg.Admin.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			for _, want := range []string{`authgate_password_hash_upgrades_total{result="ok"} 1`, `authgate_mobile_registrations_total{dialect="mobile"} 1`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// appsTable creates a partner table in the legacy schema's own names,
// with app-1 enabled (status 1), and drops it when the test ends.
func appsTable(t *testing.T, driver string, db *sql.DB, users string) string {
	t.Helper()
	apps := users + "_partners"
	text := map[string]string{"postgres": "TEXT", "mysql": "VARCHAR(255)"}[driver]
	if _, err := db.Exec("CREATE TABLE " + apps + " (partner_code " + text + " NOT NULL, access_key " + text + ", secret_hash " + text +
		", status INT, operator_id BIGINT, org_id BIGINT, org_type " + text + ", product_id BIGINT)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + apps) })
	if _, err := db.Exec("INSERT INTO " + apps + " VALUES ('app-1', 'key-app-1', '" + gatewaytest.AppSecretHash + "', 1, 9001, 501, 'SAAS', 701)"); err != nil {
		t.Fatal(err)
	}
	return apps
}

// appsQuery is the operator's apps_query for appsTable.
func appsQuery(apps string) string {
	return "SELECT partner_code AS app_id, access_key AS app_key, secret_hash AS app_secret_hash, status AS enabled, " +
		"operator_id AS login_user_id, org_id AS user_org_org_id, org_type, product_id AS org_product_product_id FROM " + apps
}

// TestAppkeyAppsFromTheDatabase: the appkey dialect reads its apps from a
// table of the legacy database through apps_query: a login works and the
// upstream sees the row's ids; disabling the row ends the app's sessions;
// a row that does not read is left out and reported; a query the
// database refuses keeps the last good apps and raises the broken gauge;
// a query with an unknown column, or apps_query without a sql directory,
// is refused at start naming the key.
func TestAppkeyAppsFromTheDatabase(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			apps := appsTable(t, driver, db, users)
			t.Setenv("TEST_DSN", sqldirtest.DSN(driver))
			block := func(query string) string {
				return "  appkey:\n    type: appkey\n    secret: appkey-test-signing-key-0123456789abcdef\n    reload_interval: 10ms\n    apps_query: " +
					fmt.Sprintf("%q", query) + "\n"
			}
			routes := gatewaytest.DefaultRoutes + "  - name: partner\n    path_prefix: /api/\n    dialects: [appkey]\n    upstream: echo\n"
			tg := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: sqlIdentity(driver, users), More: block(appsQuery(apps)), Routes: routes})
			e := &gatewaytest.AppEnv{Gateway: tg}
			access, refresh := e.Login(t, "app-1")
			_, seen := e.Echo(t, "/api/orders", gatewaytest.Bearer(access))
			for k, v := range map[string]string{"X-Auth-User-Id": "9001", "X-Auth-App-Id": "app-1", "X-Auth-Org-Id": "501", "X-Auth-Product-Id": "701"} {
				if g := seen[k]; len(g) != 1 || g[0] != v {
					t.Errorf("upstream %s = %v, want %s", k, g, v)
				}
			}
			metrics := func() string {
				resp, err := http.Get(tg.Admin.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			// A row that does not read is left out, logged and counted; the
			// other apps stay.
			if _, err := db.Exec("INSERT INTO " + apps + " VALUES ('app-bad', 'key-app-bad', 'plaintext-secret', 1, 9002, 502, 'BOGUS', 702)"); err != nil {
				t.Fatal(err)
			}
			dialecttest.WaitFor(t, "the rejected row", func() bool {
				return strings.Contains(metrics(), `authgate_appkey_apps_rejected{dialect="appkey"} 1`)
			})
			if log := tg.Logs.String(); !strings.Contains(log, `app_id \"app-bad\"`) || !strings.Contains(log, "org.type") || strings.Contains(log, "plaintext-secret") {
				t.Fatalf("the rejected row's log line (its reason, no secret): %s", log)
			}
			if r := e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-bad", "key-app-bad", "plaintext-secret", "APP_KEY")); r.Status != 401 {
				t.Fatalf("login of a rejected row = %d %s", r.Status, r.Raw)
			}
			// A query the database refuses (the table is gone) keeps the last
			// good apps.
			if _, err := db.Exec("ALTER TABLE " + apps + " RENAME TO " + apps + "_away"); err != nil {
				t.Fatal(err)
			}
			dialecttest.WaitFor(t, "the broken gauge", func() bool {
				return strings.Contains(metrics(), `authgate_appkey_apps_source_broken{dialect="appkey"} 1`)
			})
			if r, _ := e.Echo(t, "/api/orders", gatewaytest.Bearer(access)); r.Status != 200 {
				t.Fatalf("a failing apps_query dropped the good apps: %d", r.Status)
			}
			if _, err := db.Exec("ALTER TABLE " + apps + "_away RENAME TO " + apps); err != nil {
				t.Fatal(err)
			}
			dialecttest.WaitFor(t, "the broken gauge clears", func() bool {
				return strings.Contains(metrics(), `authgate_appkey_apps_source_broken{dialect="appkey"} 0`)
			})
			// Disabling the row ends the app's sessions.
			if _, err := db.Exec("UPDATE " + apps + " SET status = 0 WHERE partner_code = 'app-1'"); err != nil {
				t.Fatal(err)
			}
			dialecttest.WaitFor(t, "app-1 disabled", func() bool { r, _ := e.Echo(t, "/api/orders", gatewaytest.Bearer(access)); return r.Status == 403 })
			if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.Status != 401 {
				t.Fatalf("refresh of a disabled app's session = %d %s", r.Status, r.Raw)
			}
			if r := e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.Status != 403 {
				t.Fatalf("login of a disabled app = %d %s", r.Status, r.Raw)
			}

			for name, c := range map[string]struct{ identity, query, want string }{
				"unknown column": {sqlIdentity(driver, users), "SELECT partner_code AS app_id, access_key AS app_key, secret_hash AS app_secret_hash, status AS enabeld FROM " + apps,
					`dialects.appkey.apps_query: column "enabeld" is not one of`},
				"missing column": {sqlIdentity(driver, users), "SELECT partner_code AS app_id, secret_hash AS app_secret_hash FROM " + apps,
					`dialects.appkey.apps_query: column "app_key" is missing`},
				"refused by the database": {sqlIdentity(driver, users), "SELECT partner_code AS app_id FROM no_such_table_here",
					`dialects.appkey.apps_query: `},
				"file directory": {"", appsQuery(apps), "dialects.appkey.apps_query: needs identity.type sql"},
			} {
				cfg, err := config.Load(gatewaytest.WriteConfig(t, gatewaytest.Options{IdentityBlock: c.identity, More: block(c.query), Routes: routes}), nil)
				if err == nil {
					_, err = gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry()})
				}
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: %v, want %q", name, err, c.want)
				}
			}
		})
	}
}
