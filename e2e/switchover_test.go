package e2e_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/identity/sqldir/sqldirtest"
	"github.com/authgate/authgate/internal/legacytest"
	"github.com/authgate/authgate/sms/smstest"
)

// sqlIdentityWith is sqlIdentity with extra lines under identity.sql.
func sqlIdentityWith(driver, users, extra string) string {
	return strings.Replace(sqlIdentity(driver, users), "    queries:\n", extra+"    queries:\n", 1)
}

// TestRestartWithoutTheUserDatabase: a replica restarted while the user
// database is down starts anyway, on Redis: the sessions it did not issue
// are served, logins and refreshes that need the database answer 50300
// (the session is not ended), readiness follows the store, the
// directory's state is its own metric and warning; once the database
// answers, logins work.
func TestRestartWithoutTheUserDatabase(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			p := sqldirtest.NewProxy(t, driver)
			t.Setenv("TEST_DSN", p.DSN(driver))
			o := gatewaytest.Options{Store: "redis", Prefix: gatewaytest.NewPrefix(t), IdentityBlock: sqlIdentityWith(driver, users, "    retry_interval: 20ms\n")}
			first := gatewaytest.Start(t, o)
			held := first.Login(t)
			first.Close()

			p.Refuse()
			tg := gatewaytest.Start(t, o)
			if w := strings.Join(tg.GW.Warnings(), "\n"); !strings.Contains(w, "identity.sql.dsn: the database does not answer (") {
				t.Fatalf("no warning about the database: %q", w)
			}
			if r, seen := tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access}); r.Status != 200 || seen["X-Auth-User-Id"][0] != "10" {
				t.Fatalf("a session issued before the restart: %d %s", r.Status, r.Raw)
			}
			if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Status != 503 || r.Code(t) != "50300" {
				t.Fatalf("login without the database: %d %s, want 503 50300", r.Status, r.Raw)
			}
			if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.Refresh}, ""); r.Code(t) != "50300" {
				t.Fatalf("refresh without the database: %s, want 50300", r.Raw)
			}
			resp, err := http.Get(tg.Admin.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("readyz = %d: readiness follows the token store", resp.StatusCode)
			}
			tg.WaitMetric(t, `authgate_identity_directory_state{state="unreachable"} 1`)

			p.Resume()
			tg.WaitMetric(t, `authgate_identity_directory_state{state="ready"} 1`)
			if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Code(t) != "00000" {
				t.Fatalf("login once the database answers: %s", r.Raw)
			}
			// The refresh that failed did not end the session.
			if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.Refresh}, ""); r.Code(t) != "00000" {
				t.Fatalf("refresh once the database answers: %s", r.Raw)
			}
			gatewaytest.CheckDashboard(t, tg.MetricsText(t), "authgate_identity_directory_")
		})
	}
}

// TestRollbackKeepsLegacyPasswords: in phase 2 (a legacy window open), a
// login with a legacy digest leaves the digest as the legacy service
// wrote it — checked as the legacy service checks it, md5(salt+password)
// — so a rollback logs everyone in; upgrades resume once legacy.until has
// passed. With upgrade_beside the argon2id hash goes to a column of its
// own at once, and the digest stays too.
func TestRollbackKeepsLegacyPasswords(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			t.Setenv("TEST_DSN", sqldirtest.DSN(driver))
			legacyCanLogIn := func(t *testing.T) {
				t.Helper()
				var digest, salt string
				if err := db.QueryRow("SELECT password_hash, salt FROM "+users+" WHERE id = 11").Scan(&digest, &salt); err != nil {
					t.Fatal(err)
				}
				sum := md5.Sum([]byte(salt + "old-pass"))
				if digest != hex.EncodeToString(sum[:]) {
					t.Fatalf("the legacy service cannot log the user in: its digest is now %q (salt %q)", digest, salt)
				}
			}
			login := `{"account":"legacy","password":"old-pass"}`

			clk := gatewaytest.NewClock()
			until := clk.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			legacy := "    legacy:\n      secrets:\n        - secret: " + legacytest.Secret + "\n      until: " + until + "\n"
			tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, IdentityBlock: sqlIdentity(driver, users), MMM: legacy})
			if w := strings.Join(tg.GW.Warnings(), "\n"); !strings.Contains(w, "identity.sql.upgrade_hashes: held while a legacy window is open (dialects.mmm.legacy)") {
				t.Errorf("no warning that upgrades are held: %q", w)
			}
			for range 2 {
				if r := tg.Do(t, "POST", "/auth/login", nil, login); r.Code(t) != "00000" {
					t.Fatalf("phase 2 login: %s", r.Raw)
				}
				legacyCanLogIn(t)
			}
			if !strings.Contains(tg.MetricsText(t), `authgate_password_hash_upgrades_total{result="held"} 2`) {
				t.Error("held upgrades not counted")
			}
			clk.Advance(2 * time.Hour)
			if r := tg.Do(t, "POST", "/auth/login", nil, login); r.Code(t) != "00000" {
				t.Fatalf("login after legacy.until: %s", r.Raw)
			}
			var stored string
			if err := db.QueryRow("SELECT password_hash FROM " + users + " WHERE id = 11").Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") {
				t.Fatalf("no upgrade after legacy.until: %q %v", stored, err)
			}

			// upgrade_beside: a column of its own, preferred once set.
			users2, db2 := sqldirtest.Schema(t, driver)
			if _, err := db2.Exec("ALTER TABLE " + users2 + " ADD COLUMN authgate_hash VARCHAR(255)"); err != nil {
				t.Fatal(err)
			}
			cols := "SELECT id, account, COALESCE(authgate_hash, password_hash) AS password_hash, salt, name, nick_name, mobile, default_company, bo_user_id, bo_roles FROM " + users2
			q := func(s string) string { return fmt.Sprintf("%q", s) }
			beside := sqlIdentityWith(driver, users2, "    upgrade_beside: true\n")
			beside = strings.Replace(beside, sqlIdentityQueries(driver, users2),
				"      by_account: "+q(cols+" WHERE account = :account")+"\n      by_id: "+q(cols+" WHERE id = :id")+"\n      by_mobile: "+q(cols+" WHERE mobile = :mobile")+
					"\n      update_password_hash: "+q("UPDATE "+users2+" SET authgate_hash = :password_hash WHERE id = :id")+"\n", 1)
			tb := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: beside, MMM: legacy})
			if r := tb.Do(t, "POST", "/auth/login", nil, login); r.Code(t) != "00000" {
				t.Fatalf("login with upgrade_beside: %s", r.Raw)
			}
			users, db = users2, db2
			legacyCanLogIn(t)
			var argon string
			if err := db2.QueryRow("SELECT authgate_hash FROM " + users2 + " WHERE id = 11").Scan(&argon); err != nil || !strings.HasPrefix(argon, "$argon2id$") {
				t.Fatalf("upgrade_beside wrote no hash beside the digest: %q %v", argon, err)
			}
			if r := tb.Do(t, "POST", "/auth/login", nil, login); r.Code(t) != "00000" {
				t.Fatalf("login with the hash beside: %s", r.Raw)
			}
		})
	}
}

// sqlIdentityQueries is the queries part of sqlIdentity's block.
func sqlIdentityQueries(driver, users string) string {
	b := sqlIdentity(driver, users)
	return b[strings.Index(b, "      by_account:"):]
}

// TestSMSLoginAcrossADatabaseBlip: a login whose user lookup finds the
// database down answers 5003 without spending the SMS code or holding the
// resend interval: the same code logs in once the database is back, and
// a new code may be asked for at once.
func TestSMSLoginAcrossADatabaseBlip(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, _ := sqldirtest.Schema(t, driver)
			p := sqldirtest.NewProxy(t, driver)
			t.Setenv("TEST_DSN", p.DSN(driver))
			svc := smstest.NewReceiver(t)
			tg := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: sqlIdentityWith(driver, users, "    query_timeout: 300ms\n"),
				More: "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    ")})
			e := &gatewaytest.MobileEnv{Gateway: tg, SMS: svc}
			const number = "13900000011" // the legacy fixture's
			if r := e.RequestCode(t, number); r.IntCode(t) != 0 {
				t.Fatalf("sms-code: %s", r.Raw)
			}
			code := svc.Code(t, number)
			device := map[string]string{"X-Device-Number": "d1"}

			p.Refuse()
			if r := e.Do(t, "POST", "/auth/mobile/login", device, gatewaytest.LoginBody(number, code, 2)); r.Status != 503 || r.IntCode(t) != 5003 {
				t.Fatalf("login with the database down: %d %s, want 503 5003", r.Status, r.Raw)
			}
			p.Resume()
			var r gatewaytest.Reply
			dialecttest.WaitFor(t, "the login with the same code", func() bool {
				r = e.Do(t, "POST", "/auth/mobile/login", device, gatewaytest.LoginBody(number, code, 2))
				return r.Status != 503
			})
			if r.IntCode(t) != 0 || r.Data(t)["userInfo"].(map[string]any)["userName"] != "legacy" {
				t.Fatalf("the code after the blip: %d %s", r.Status, r.Raw)
			}

			// The resend interval: a failed login releases it.
			if r := e.RequestCode(t, number); r.IntCode(t) != 0 {
				t.Fatalf("sms-code: %s", r.Raw)
			}
			if r := e.RequestCode(t, number); r.IntCode(t) == 0 {
				t.Fatalf("a second code within the resend interval: %s", r.Raw)
			}
			p.Refuse()
			if r := e.Do(t, "POST", "/auth/mobile/login", device, gatewaytest.LoginBody(number, svc.Code(t, number), 2)); r.Status != 503 {
				t.Fatalf("login with the database down: %d %s", r.Status, r.Raw)
			}
			if r := e.RequestCode(t, number); r.IntCode(t) != 0 {
				t.Fatalf("a new code after a login that failed on the server's side: %s", r.Raw)
			}
		})
	}
}

// TestAppsQueryStartsWithoutTheDatabase: an appkey instance reading its
// apps from the user database starts while the database is down: its
// logins answer 503 (not "unknown app", not 401), the mmm routes work on,
// and once the database answers the apps are read and logins work.
func TestAppsQueryStartsWithoutTheDatabase(t *testing.T) {
	for _, driver := range sqldirtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			users, db := sqldirtest.Schema(t, driver)
			apps := appsTable(t, driver, db, users)
			p := sqldirtest.NewProxy(t, driver)
			t.Setenv("TEST_DSN", p.DSN(driver))
			p.Refuse()
			tg := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: sqlIdentityWith(driver, users, "    retry_interval: 20ms\n"),
				More: "  appkey:\n    type: appkey\n    secret: appkey-test-signing-key-0123456789abcdef\n    reload_interval: 20ms\n    apps_query: " +
					fmt.Sprintf("%q", appsQuery(apps)) + "\n",
				Routes: gatewaytest.DefaultRoutes + "  - name: partner\n    path_prefix: /api/\n    dialects: [appkey]\n    upstream: echo\n"})
			if w := strings.Join(tg.GW.Warnings(), "\n"); !strings.Contains(w, "dialects.appkey.apps_query: the apps could not be read") {
				t.Errorf("no warning about the apps: %q", w)
			}
			login := gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")
			if r := tg.Do(t, "POST", "/api/base/token/login", nil, login); r.Status != 503 {
				t.Fatalf("appkey login without the database: %d %s, want 503", r.Status, r.Raw)
			}
			tg.WaitMetric(t, `authgate_appkey_apps_source_broken{dialect="appkey"} 1`)
			p.Resume()
			dialecttest.WaitFor(t, "the appkey login", func() bool {
				return tg.Do(t, "POST", "/api/base/token/login", nil, login).Status == 200
			})
			tg.WaitMetric(t, `authgate_appkey_apps_source_broken{dialect="appkey"} 0`)
		})
	}
}
