// Package identity checks who a person is, against a user Directory: the
// `file` directory (a YAML file of users whose passwords are stored only as
// argon2id or bcrypt hashes), the `sql` directory (the legacy service's own
// user tables, legacy hash formats upgraded on login) or the `http`
// directory (the legacy service asked to check a password).
//
// Dialects see it through the Directory interface (an account and a
// password in, a User out); the formats stay here.
package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// ErrBadCredentials reports an unknown account or a wrong password; the
// two are not told apart, on the wire or in time.
var ErrBadCredentials = errors.New("identity: bad account or password")

// User is one person of the users file.
type User struct {
	ID             int64   `yaml:"id"`
	Account        string  `yaml:"account"`
	PasswordHash   string  `yaml:"password_hash"`
	Companies      []int64 `yaml:"companies"`
	DefaultCompany int64   `yaml:"default_company"`
	Name           string  `yaml:"name"`
	NickName       string  `yaml:"nick_name"`
	Mobile         string  `yaml:"mobile"`
	AvatarURL      string  `yaml:"avatar_url"`
	// Profiles are the facts of a user that one dialect alone reads, by
	// profile name ("bo": the bo v3 dialect's), each field's values as
	// the directory found them. The dialect decodes its own and gives it
	// its defaults; a user without it cannot log in there.
	Profiles map[string]Profile `yaml:"-"`
}

// Profile is one dialect's facts of a user: field → values (a single
// value is a list of one).
type Profile map[string][]string

// First is the field's first value, "" without one.
func (p Profile) First(field string) string {
	if v := p[field]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// BelongsTo reports whether the user is a member of company.
func (u User) BelongsTo(company int64) bool { return slices.Contains(u.Companies, company) }

type usersFile struct {
	// Demo marks a file of well-known demo credentials; the gateway warns
	// loudly when it loads one.
	Demo  bool       `yaml:"demo"`
	Users []fileUser `yaml:"users"`
}

// Verifier checks a secret against a stored hash, within ctx (its trace:
// the gateway's Bounded verifier draws each check as a span). Directory
// uses VerifySecret unbounded; tests substitute a counting one.
type Verifier func(ctx context.Context, hash, secret string) (bool, error)

// Unbounded is check as a Verifier, without a bound or a span: for a
// directory used outside the gateway, and for tests.
func Unbounded(check func(hash, secret string) (bool, error)) Verifier {
	return func(_ context.Context, hash, secret string) (bool, error) { return check(hash, secret) }
}

// File is the `file` directory: the loaded users file. It is immutable
// and safe for concurrent use.
type File struct {
	demo      bool
	byAccount map[string]User
	byID      map[int64]User
	byMobile  map[string]User
	// dummyHash is checked for unknown accounts so they cost the same
	// time as a wrong password.
	dummyHash string
	verify    Verifier
}

// Load reads and validates a users file.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	d, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("identity: %s: %w", path, err)
	}
	return d, nil
}

// Parse validates a users file's content: unknown keys, duplicate ids or
// accounts, unreadable hashes and a default company the user is not a
// member of are all refused.
func Parse(raw []byte) (*File, error) {
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	d := &File{
		demo:      f.Demo,
		byAccount: map[string]User{},
		byID:      map[int64]User{},
		byMobile:  map[string]User{},
		verify:    Unbounded(VerifySecret),
	}
	var errs []error
	for i, fu := range f.Users {
		u := fu.user()
		at := fmt.Sprintf("users[%d]", i)
		switch {
		case u.ID <= 0:
			errs = append(errs, fmt.Errorf("%s.id: must be a positive integer", at))
		case u.Account == "":
			errs = append(errs, fmt.Errorf("%s.account: required", at))
		case d.byAccount[u.Account].ID != 0:
			errs = append(errs, fmt.Errorf("%s.account: %q appears twice", at, u.Account))
		case d.byID[u.ID].ID != 0:
			errs = append(errs, fmt.Errorf("%s.id: %d appears twice", at, u.ID))
		}
		if err := CheckHash(u.PasswordHash); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: %w (make one with `gateway hash-secret`)", at, err))
		}
		if u.DefaultCompany == 0 && len(u.Companies) > 0 {
			u.DefaultCompany = u.Companies[0]
		}
		if u.DefaultCompany != 0 && !u.BelongsTo(u.DefaultCompany) {
			errs = append(errs, fmt.Errorf("%s.default_company: %d is not in companies", at, u.DefaultCompany))
		}
		d.byAccount[u.Account] = u
		d.byID[u.ID] = u
		if u.Mobile != "" {
			d.byMobile[u.Mobile] = u
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sample := ""
	if len(f.Users) > 0 {
		sample = f.Users[0].PasswordHash
	}
	dummy, err := DummyLike(sample)
	if err != nil {
		return nil, err
	}
	d.dummyHash = dummy
	return d, nil
}

var _ Directory = (*File)(nil)

// SetVerifier replaces the hash check; for tests that count checks.
func (d *File) SetVerifier(v Verifier) { d.verify = v }

// Demo reports whether the file declares itself demo credentials.
func (d *File) Demo() bool { return d.demo }

// Len is the number of users.
func (d *File) Len() int { return len(d.byID) }

// Authenticate implements Directory. An unknown account runs one hash
// check against a dummy hash, so it takes as long as a wrong password and
// cannot be told from one.
func (d *File) Authenticate(ctx context.Context, account, password string) (User, error) {
	u, ok := d.byAccount[account]
	hash := u.PasswordHash
	if !ok {
		hash = d.dummyHash
	}
	match, err := d.verify(ctx, hash, password)
	if err != nil {
		return User{}, fmt.Errorf("identity: account %q: %w", account, err)
	}
	if !ok || !match {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// ByID implements Directory.
func (d *File) ByID(_ context.Context, id int64) (User, error) {
	return found(d.byID[id])
}

// ByAccount implements Directory.
func (d *File) ByAccount(_ context.Context, account string) (User, error) {
	return found(d.byAccount[account])
}

// ByMobile implements Directory.
func (d *File) ByMobile(_ context.Context, mobile string) (User, error) {
	return found(d.byMobile[mobile])
}

func found(u User) (User, error) {
	if u.ID == 0 {
		return User{}, ErrNotFound
	}
	return u, nil
}
