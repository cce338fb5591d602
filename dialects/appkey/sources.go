package appkey

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/authgate/authgate/identity"
)

// appsSource is where an instance reads its apps registry from: the apps
// file, or a table of the user directory's database. Both are read whole
// and polled, so a request never waits on the source, and an app that
// disappears, is disabled or re-keyed is noticed at the next poll.
type appsSource interface {
	// load returns the registry as it is now, or cur itself when the
	// source is unchanged since cur was read; rejected lists table rows
	// left out (the file is all or nothing).
	load(ctx context.Context, cur *Apps) (next *Apps, rejected []error, err error)
}

// fileSource is the apps file, compared by content digest.
type fileSource struct{ path string }

func (f fileSource) load(_ context.Context, cur *Apps) (*Apps, []error, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, nil, err
	}
	if cur != nil && sha256.Sum256(raw) == cur.digest {
		return cur, nil, nil
	}
	next, err := ParseApps(raw)
	return next, nil, err
}

// AppColumns are the columns apps_query may return, the apps file's
// fields flattened: app_id, app_key and app_secret_hash are required; a
// NULL enabled is enabled, like a missing one in the file.
var AppColumns = []string{
	"app_id", "app_key", "app_secret_hash", "enabled",
	"login_user_id", "login_user_type",
	"org_product_name", "org_product_org_id", "org_product_product_id",
	"user_org_id", "user_org_account", "user_org_mobile", "user_org_name", "user_org_org_id", "user_org_portrait",
	"org_logo", "org_name", "org_type",
	"user_product_id", "user_product_org_id", "user_product_product_id", "user_product_system_admin",
}

// tableSource is apps_query on the user directory's database.
type tableSource struct {
	db    identity.TableReader
	query string
}

func (t tableSource) load(ctx context.Context, cur *Apps) (*Apps, []error, error) {
	cols, rows, err := t.db.ReadTable(ctx, t.query)
	if err != nil {
		return nil, nil, err
	}
	if err := checkAppColumns(cols); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(rows, func(a, b map[string]string) int { return strings.Compare(a["app_id"], b["app_id"]) })
	// The digest is over the rows in app_id order (map keys marshal
	// sorted), so a query without ORDER BY does not look like a change.
	canonical, err := json.Marshal(rows)
	if err != nil {
		return nil, nil, err
	}
	digest := sha256.Sum256(canonical)
	if cur != nil && digest == cur.digest {
		return cur, nil, nil
	}
	set := &Apps{byID: map[string]App{}, digest: digest}
	count := map[string]int{}
	for _, row := range rows {
		count[row["app_id"]]++
	}
	var rejected []error
	for _, row := range rows {
		id := row["app_id"]
		if n := count[id]; n != 1 {
			// Reported once, at the first of its rows; 0 skips the others.
			if n > 1 {
				rejected = append(rejected, fmt.Errorf("app_id %q: %d rows have it; none is used", id, n))
				count[id] = 0
			}
			continue
		}
		a, errs := appOfRow(row)
		errs = append(errs, checkApp(&a)...)
		if len(errs) > 0 {
			rejected = append(rejected, fmt.Errorf("app_id %q: %w", id, errors.Join(errs...)))
			continue
		}
		set.byID[id] = a
	}
	return set, rejected, set.provision()
}

// checkAppColumns refuses a query that returns an unknown column (a typo)
// or misses a required one.
func checkAppColumns(cols []string) error {
	have := map[string]bool{}
	for _, c := range cols {
		if !slices.Contains(AppColumns, c) {
			return fmt.Errorf("column %q is not one of %s", c, strings.Join(AppColumns, ", "))
		}
		have[c] = true
	}
	for _, c := range []string{"app_id", "app_key", "app_secret_hash"} {
		if !have[c] {
			return fmt.Errorf("column %q is missing (name the columns with AS: SELECT partner_code AS app_id, ...)", c)
		}
	}
	return nil
}

// appOfRow reads a row into an App; numbers and booleans that do not
// parse are the row's problems.
func appOfRow(row map[string]string) (App, []error) {
	var errs []error
	num := func(col string) int64 {
		v := row[col]
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", col, v))
		}
		return n
	}
	flag := func(col string, null bool) bool {
		v := row[col]
		if v == "" {
			return null
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a boolean (1/0, true/false)", col, v))
		}
		return b
	}
	enabled := flag("enabled", true)
	a := App{
		AppID: row["app_id"], AppKey: row["app_key"], AppSecretHash: row["app_secret_hash"], Enabled: &enabled,
		LoginUser: LoginUser{
			ID: num("login_user_id"), LoginUserType: row["login_user_type"],
			OrgProduct: OrgProduct{Name: row["org_product_name"], OrgID: num("org_product_org_id"), ProductID: num("org_product_product_id")},
			UserOrg: UserOrg{
				Account: row["user_org_account"], ID: num("user_org_id"), Mobile: row["user_org_mobile"], Name: row["user_org_name"],
				Org:   Org{Logo: row["org_logo"], Name: row["org_name"], Type: row["org_type"]},
				OrgID: num("user_org_org_id"), Portrait: row["user_org_portrait"],
			},
			UserProduct: UserProduct{ID: num("user_product_id"), OrgID: num("user_product_org_id"), ProductID: num("user_product_product_id"),
				SystemAdmin: flag("user_product_system_admin", false)},
		},
	}
	return a, errs
}
