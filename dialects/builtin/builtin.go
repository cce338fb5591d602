// Package builtin is the registry of the dialect types compiled into the
// gateway. Adding a dialect is one package under dialects/ and one line
// here; it lives apart from package dialects so that the dialect packages
// can import dialects without a cycle.
package builtin

import (
	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/appkey"
	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/dialects/mmm"
	"github.com/authgate/authgate/dialects/mobile"
)

// Registry returns a registry of every built-in dialect type.
func Registry() *dialects.Registry {
	return dialects.NewRegistry(
		mmm.Factory,
		mobile.Factory,
		bov3.Factory,
		appkey.Factory,
	)
}
