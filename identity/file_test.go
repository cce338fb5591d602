package identity_test

import (
	"testing"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/directorytest"
)

func TestFileDirectoryConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Subject {
		d, err := identity.Parse([]byte(directorytest.FileYAML()))
		if err != nil {
			t.Fatal(err)
		}
		return directorytest.Subject{Dir: d}
	})
}
