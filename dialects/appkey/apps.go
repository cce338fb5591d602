package appkey

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/authgate/authgate/identity"
)

// App is one client of the apps file.
type App struct {
	AppID         string `yaml:"app_id"`
	AppKey        string `yaml:"app_key"`
	AppSecretHash string `yaml:"app_secret_hash"`
	// Enabled defaults to true; false answers 403 and ends the app's
	// sessions.
	Enabled   *bool     `yaml:"enabled"`
	LoginUser LoginUser `yaml:"login_user"`
}

func (a App) enabled() bool { return a.Enabled == nil || *a.Enabled }

// LoginUser is the seed's loginUser, as configured (loginType is fixed).
type LoginUser struct {
	ID            int64       `yaml:"id" json:"id"`
	LoginUserType string      `yaml:"login_user_type" json:"loginUserType"`
	OrgProduct    OrgProduct  `yaml:"org_product" json:"orgProduct"`
	UserOrg       UserOrg     `yaml:"user_org" json:"userOrg"`
	UserProduct   UserProduct `yaml:"user_product" json:"userProduct"`
}

// OrgProduct is the seed's OrgProduct.
type OrgProduct struct {
	Name      string `yaml:"name" json:"name"`
	OrgID     int64  `yaml:"org_id" json:"orgId"`
	ProductID int64  `yaml:"product_id" json:"productId"`
}

// UserOrg is the seed's UserOrg.
type UserOrg struct {
	Account  string `yaml:"account" json:"account"`
	ID       int64  `yaml:"id" json:"id"`
	Mobile   string `yaml:"mobile" json:"mobile"`
	Name     string `yaml:"name" json:"name"`
	Org      Org    `yaml:"org" json:"org"`
	OrgID    int64  `yaml:"org_id" json:"orgId"`
	Portrait string `yaml:"portrait" json:"portrait"`
}

// Org is the seed's Org; Type is CHANNEL, SERVICE or SAAS.
type Org struct {
	Logo string `yaml:"logo" json:"logo"`
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type" json:"type"`
}

// UserProduct is the seed's UserProduct.
type UserProduct struct {
	ID          int64 `yaml:"id" json:"id"`
	OrgID       int64 `yaml:"org_id" json:"orgId"`
	ProductID   int64 `yaml:"product_id" json:"productId"`
	SystemAdmin bool  `yaml:"system_admin" json:"systemAdmin"`
}

// Apps is one good reading of the apps file. It is immutable.
type Apps struct {
	// pending, when set, is why the set has never loaded (apps_query on a
	// database that did not answer at start): every lookup answers it,
	// as the store-down class, rather than "unknown app".
	pending error
	demo    bool
	byID    map[string]App
	// digest identifies the file content the set was read from.
	digest [32]byte
	// dummyHash, of the same kind and cost as the apps' own, is checked
	// for unknown appIds so they cost what a wrong secret costs.
	dummyHash string
}

type appsFile struct {
	Demo bool  `yaml:"demo"`
	Apps []App `yaml:"apps"`
}

// ParseApps validates an apps file: unknown keys, duplicate ids, missing
// keys, unreadable hashes and org types outside CHANNEL|SERVICE|SAAS are
// all refused.
func ParseApps(raw []byte) (*Apps, error) {
	var f appsFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	set := &Apps{demo: f.Demo, byID: map[string]App{}, digest: sha256.Sum256(raw)}
	var errs []error
	for i, a := range f.Apps {
		at := fmt.Sprintf("apps[%d]", i)
		if _, dup := set.byID[a.AppID]; dup && a.AppID != "" {
			errs = append(errs, fmt.Errorf("%s.app_id: %q appears twice", at, a.AppID))
		}
		for _, err := range checkApp(&a) {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
		}
		set.byID[a.AppID] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, set.provision()
}

// checkApp validates one app (of the file or of a table row), naming the
// field of each problem, and fills login_user_type's default.
func checkApp(a *App) []error {
	var errs []error
	if a.AppID == "" {
		errs = append(errs, errors.New("app_id: required"))
	}
	if a.AppKey == "" {
		errs = append(errs, errors.New("app_key: required"))
	}
	if err := identity.CheckHash(a.AppSecretHash); err != nil {
		errs = append(errs, fmt.Errorf("app_secret_hash: %w (make one with `gateway hash-secret`)", err))
	}
	switch a.LoginUser.UserOrg.Org.Type {
	case "CHANNEL", "SERVICE", "SAAS":
	default:
		errs = append(errs, fmt.Errorf("login_user.user_org.org.type: %q is not one of CHANNEL, SERVICE, SAAS", a.LoginUser.UserOrg.Org.Type))
	}
	switch a.LoginUser.LoginUserType {
	case "":
		a.LoginUser.LoginUserType = "CLIENT"
	case "USER", "CLIENT":
	default:
		errs = append(errs, fmt.Errorf("login_user.login_user_type: %q is not one of USER, CLIENT", a.LoginUser.LoginUserType))
	}
	return errs
}

// provision makes the dummy hash unknown appIds are checked against, of
// the kind and cost of an app's own.
func (s *Apps) provision() error {
	sample := ""
	for _, a := range s.byID {
		sample = a.AppSecretHash
		break
	}
	dummy, err := identity.DummyLike(sample)
	if err != nil {
		return err
	}
	s.dummyHash = dummy
	return nil
}

// lookup returns an app by id; err is the set's pending error, when it
// has never loaded.
func (s *Apps) lookup(id string) (a App, known bool, err error) {
	if s.pending != nil {
		return App{}, false, s.pending
	}
	a, known = s.byID[id]
	return a, known, nil
}

// ended lists the apps of s whose sessions must end in next: deleted,
// disabled, or given a new key or secret.
func (s *Apps) ended(next *Apps) []string {
	var out []string
	for id, old := range s.byID {
		n, ok := next.byID[id]
		if !ok || !n.enabled() || n.AppKey != old.AppKey || n.AppSecretHash != old.AppSecretHash {
			out = append(out, id)
		}
	}
	return out
}
