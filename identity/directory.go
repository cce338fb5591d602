package identity

import (
	"context"
	"errors"
)

// Directory is where users are looked up and passwords checked. Every
// method fails with ErrNotFound (or ErrBadCredentials) as a verdict, and
// with an error wrapping ErrUnavailable when the directory cannot answer:
// dialects fail closed on it, never answering "wrong password".
type Directory interface {
	// Authenticate returns the user whose account and password match, or
	// ErrBadCredentials; an unknown account costs what a wrong password
	// costs.
	Authenticate(ctx context.Context, account, password string) (User, error)
	// ByID, ByAccount and ByMobile look a user up, or answer ErrNotFound.
	ByID(ctx context.Context, id int64) (User, error)
	ByAccount(ctx context.Context, account string) (User, error)
	ByMobile(ctx context.Context, mobile string) (User, error)
}

// Registrar is a Directory that can register a user by mobile number (the
// first SMS login of an unknown number), in the user store itself.
type Registrar interface {
	// RegisterMobile returns the user of mobile, creating it when there is
	// none; created says which. Concurrent calls for one number end with
	// one user (the store's unique constraint decides).
	RegisterMobile(ctx context.Context, r Registration) (u User, created bool, err error)
}

// Registration is what a mobile sign-up knows of the new user.
type Registration struct {
	Mobile string
	// Source is the registration source the client reported.
	Source string
	// Name is the display name to start with (the masked number).
	Name string
}

var (
	// ErrNotFound reports a user that does not exist.
	ErrNotFound = errors.New("identity: no such user")
	// ErrUnavailable marks every error of a directory that could not
	// answer (the database is down or slow, the legacy service failed).
	ErrUnavailable = errors.New("identity: user directory unavailable")
)

// TableReader is a directory that can read a whole table of its store for
// a dialect: the sql directory runs an operator's query without
// parameters (the appkey dialect's apps_query) on its pool, within its
// query timeout.
type TableReader interface {
	// ReadTable returns the columns (lower-cased) and every row as column
	// → text, NULL as "". A database that cannot answer is an error
	// wrapping ErrUnavailable.
	ReadTable(ctx context.Context, query string) (columns []string, rows []map[string]string, err error)
}
