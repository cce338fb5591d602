package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

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
			tg := startGateway(t, gwOptions{identityBlock: sqlIdentity(driver, users),
				more: "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    ") +
					"  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      enforcement: off\n",
				routes: defaultRoutes})
			p := tg.login(t)
			if _, seen := tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil || seen["X-Auth-User-Id"][0] != "10" {
				t.Fatalf("mmm user from the database: %v", seen)
			}
			r := tg.do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p.Access}, `{"company_id": 2}`)
			if r.code(t) != "00000" {
				t.Fatalf("companies from the database: %s", r.raw)
			}
			if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"nope"}`); r.code(t) != "10003" {
				t.Fatalf("wrong password = %s", r.raw)
			}
			// The legacy md5(salt+password) user logs in unchanged, and from
			// then on has an argon2id hash.
			if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"legacy","password":"old-pass"}`); r.code(t) != "00000" {
				t.Fatalf("legacy login = %s", r.raw)
			}
			var stored string
			q := "SELECT password_hash FROM " + users + " WHERE id = 11"
			if err := db.QueryRow(q).Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") {
				t.Fatalf("stored hash after the legacy login = %q, %v", stored, err)
			}
			// bov3 reads the bo profile columns.
			r = tg.do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p"}, `{"userName":"demo","password":"demo123"}`)
			if r.status != 200 || r.data(t)["tokenUser"].(map[string]any)["userId"] != "ptdev" {
				t.Fatalf("bov3 login = %d %s", r.status, r.raw)
			}
			// A new number is registered in the users table.
			m := &mobileEnv{testGateway: tg, sms: svc}
			l := m.login(t, "13600000066", "d")
			var account string
			if err := db.QueryRow(fmt.Sprintf("SELECT account FROM %s WHERE id = %d", users, l.id)).Scan(&account); err != nil || account != "13600000066" {
				t.Fatalf("the new number is not a row of the users table: %q, %v", account, err)
			}
			resp, err := http.Get(tg.admin.URL + "/metrics")
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
