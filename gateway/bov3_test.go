package gateway_test

import (
	"fmt"
	"testing"

	"github.com/authgate/authgate/dialects/bov3"
)

const desKey = "test-des"

type boEnv struct {
	*testGateway
	cipher *bov3.VerifyCipher
}

func startBov3(t *testing.T, store string) *boEnv {
	tg := startGateway(t, gwOptions{store: store,
		more: `  bov3:
    type: bov3
    secret: bov3-test-signing-key-0123456789abcdef
    verify_api:
      key: ` + desKey + `
`,
		routes: defaultRoutes + `  - name: bo
    path_prefix: /bo/api/v3/
    dialects: [bov3]
    upstream: echo
`})
	c, err := bov3.NewVerifyCipher([]byte(desKey), "ecb", nil, "base64")
	if err != nil {
		t.Fatal(err)
	}
	return &boEnv{testGateway: tg, cipher: c}
}

// headers are a request's bo context: owner, a fresh XverifyApi, and kv.
func (e *boEnv) headers(owner string, kv ...string) map[string]string {
	h := map[string]string{
		"XownerId":   owner,
		"XverifyApi": e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), e.clock.Now().UnixMilli())),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// TestBov3EndToEnd: a bo login through the gateway; the upstream gets the
// identity headers and the context headers in their legacy spelling, never
// the token or the anti-replay header; the token is worth nothing on
// another dialect's route.
func TestBov3EndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startBov3(t, store)
		r := e.do(t, "POST", "/bo/api/v3/auth/login", e.headers("proj-1"), `{"userName":"demo","password":"demo123"}`)
		if r.status != 200 || r.body["success"] != true {
			t.Fatalf("login = %d %s", r.status, r.raw)
		}
		access := r.data(t)["accessToken"].(string)
		_, seen := e.echo(t, "/bo/api/v3/users?page=1", e.headers("proj-1", "Authorization", "Bearer "+access,
			"XsysId", "sys-9", "XuserFromFirstShareId", "u1", "XuserFromSecondShareId", "u2", "XfilterAreaCode", "310000", "X-Auth-Roles", "admin"))
		if seen == nil {
			t.Fatal("protected call refused")
		}
		for k, v := range map[string]string{"X-Auth-User-Id": "ptdev", "X-Auth-Owner-Id": "proj-1", "X-Auth-Roles": "development",
			"X-Auth-Dialect": "bov3", "XownerId": "proj-1", "XsysId": "sys-9", "XuserFromFirstShareId": "u1",
			"XuserFromSecondShareId": "u2", "XfilterAreaCode": "310000"} {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want [%s]", k, got, v)
			}
		}
		for _, k := range []string{"Authorization", "XverifyApi", "Xverifyapi"} {
			if _, ok := seen[k]; ok {
				t.Errorf("upstream received %s", k)
			}
		}
		if r, _ := e.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.code(t) != "10013" {
			t.Fatalf("bov3 token on an mmm route = %s", r.raw)
		}
	})
}
