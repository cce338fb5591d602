package gatewaytest

import (
	"fmt"
	"testing"

	"github.com/authgate/authgate/dialects/bov3"
)

// DESKey is the bov3 instance's XverifyApi key.
const DESKey = "test-des"

// BoEnv is a gateway with a bov3 instance, and the XverifyApi cipher its
// clients use.
type BoEnv struct {
	*Gateway
	Cipher *bov3.VerifyCipher
}

// StartBov3 starts a gateway on store with a bov3 instance on
// /bo/api/v3/.
func StartBov3(t *testing.T, store string) *BoEnv {
	tg := Start(t, Options{Store: store,
		More: `  bov3:
    type: bov3
    secret: bov3-test-signing-key-0123456789abcdef
    verify_api:
      key: ` + DESKey + `
`,
		Routes: DefaultRoutes + `  - name: bo
    path_prefix: /bo/api/v3/
    dialects: [bov3]
    upstream: echo
`})
	c, err := bov3.NewVerifyCipher([]byte(DESKey), "ecb", nil, "base64")
	if err != nil {
		t.Fatal(err)
	}
	return &BoEnv{Gateway: tg, Cipher: c}
}

// Headers are a request's bo context: owner, a fresh XverifyApi, and kv.
func (e *BoEnv) Headers(owner string, kv ...string) map[string]string {
	h := map[string]string{
		"XownerId":   owner,
		"XverifyApi": e.Cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), e.Clock.Now().UnixMilli())),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}
