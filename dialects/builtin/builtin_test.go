package builtin_test

import (
	"reflect"
	"testing"

	"github.com/authgate/authgate/dialects/builtin"
)

func TestEveryDialectTypeIsRegistered(t *testing.T) {
	r := builtin.Registry()
	if got, want := r.Types(), []string{"appkey", "bov3", "mmm", "mobile"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("types = %v, want %v", got, want)
	}
	for _, typ := range r.Types() {
		if f, ok := r.Lookup(typ); !ok || f.New == nil || f.Type != typ {
			t.Errorf("%s: factory %+v", typ, f)
		}
	}
}
