package gateway_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/bov3"
)

const desKey = "test-des"

// seedExample is the success data of bo-v3-token-refresh.md, verbatim.
const seedExample = `{
"tokenType": "Bearer",
"tokenUser": {"clientId": "ptdev", "userId": "ptdev", "userName": "dev", "pushName": "开发管理员",
  "roleId": ["development"], "depId": [], "areaCode": [], "jobId": [], "sysId": [], "mergeUserId": [], "developer": 1},
"timeStamp": 1614246960367.5437,
"refreshToken": "MtP0zZx1gZE66xDnhwd1UV973XoVL4nT",
"accessToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x",
"clientId": "ptdev",
"expires": "2021-03-11T17:56:00",
"expiresIn": 1614246960368
}`

type boEnv struct {
	*testGateway
	cipher *bov3.VerifyCipher
}

func startBov3(t *testing.T, store, extra string) *boEnv {
	tg := startGateway(t, gwOptions{store: store,
		more: `  bov3:
    type: bov3
    secret: bov3-test-signing-key-0123456789abcdef
    time_zone: Asia/Shanghai
    verify_api:
      key: ` + desKey + `
` + extra,
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

// headers are a request's bo context: owner and a fresh XverifyApi.
func (e *boEnv) headers(owner string) map[string]string {
	return map[string]string{
		"XownerId":   owner,
		"XverifyApi": e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), e.clock.Now().UnixMilli())),
	}
}

func (e *boEnv) with(h map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func (e *boEnv) login(t *testing.T, owner string) (access, refresh string) {
	t.Helper()
	r := e.do(t, "POST", "/bo/api/v3/auth/login", e.headers(owner), `{"userName":"demo","password":"demo123"}`)
	if r.status != 200 || r.body["success"] != true {
		t.Fatalf("login = %d %s", r.status, r.raw)
	}
	d := r.data(t)
	return d["accessToken"].(string), d["refreshToken"].(string)
}

// shape describes a JSON value's structure: its keys and types.
func shape(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			out[k] = shape(val)
		}
		return out
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "bool"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func decodeNumbers(t *testing.T, raw string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestBov3FlowAndSeedShape(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startBov3(t, store, "")
		access, refresh := e.login(t, "proj-1")
		if len(refresh) != 32 || strings.Trim(refresh, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("refresh token %q is not 32 alphanumerics", refresh)
		}
		// A protected call: identity and context headers upstream.
		_, seen := e.echo(t, "/bo/api/v3/users?page=1", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access,
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

		e.clock.Advance(10 * time.Minute)
		now := e.clock.Now()
		r := e.do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh+"&_nodejs=common-data", e.headers("proj-1"), "")
		if r.status != 200 || r.body["success"] != true {
			t.Fatalf("refresh = %d %s", r.status, r.raw)
		}
		got := decodeNumbers(t, string(r.raw)).(map[string]any)
		if want := []string{"cacheDate", "cacheType", "data", "success"}; !reflect.DeepEqual(keysOf(got), want) {
			t.Fatalf("envelope keys %v, want %v", keysOf(got), want)
		}
		if got["cacheType"] != map[string]string{"memory": "local", "redis": "redis"}[store] {
			t.Fatalf("cacheType %v", got["cacheType"])
		}
		shanghai, _ := time.LoadLocation("Asia/Shanghai")
		if got["cacheDate"] != now.In(shanghai).Format("2006-01-02T15:04:05") {
			t.Fatalf("cacheDate %v", got["cacheDate"])
		}
		// Field by field against the seed's example: same keys, same
		// JSON types, nested ones too.
		seed := decodeNumbers(t, seedExample)
		if !reflect.DeepEqual(shape(got["data"]), shape(seed)) {
			t.Fatalf("data shape\n got %v\nwant %v", shape(got["data"]), shape(seed))
		}
		d := got["data"].(map[string]any)
		if d["refreshToken"] != refresh || d["tokenType"] != "Bearer" || d["clientId"] != "ptdev" {
			t.Fatalf("data = %v", d)
		}
		if d["accessToken"] == access {
			t.Fatal("refresh returned the old access token")
		}
		loginAt := now.Add(-10 * time.Minute)
		if d["expires"] != loginAt.Add(14*24*time.Hour).In(shanghai).Format("2006-01-02T15:04:05") {
			t.Fatalf("expires %v, want the refresh token's expiry in Shanghai time", d["expires"])
		}
		if d["expiresIn"].(json.Number).String() != "1800" {
			t.Fatalf("expiresIn %v, want 1800 seconds", d["expiresIn"])
		}
		ts, _ := d["timeStamp"].(json.Number).Float64()
		if int64(ts) != now.UnixMilli() {
			t.Fatalf("timeStamp %v, want now in ms (%d)", ts, now.UnixMilli())
		}
		tu := d["tokenUser"].(map[string]any)
		if tu["userId"] != "ptdev" || tu["pushName"] != "开发管理员" || tu["developer"].(json.Number).String() != "1" ||
			!reflect.DeepEqual(tu["roleId"], []any{"development"}) || !reflect.DeepEqual(tu["depId"], []any{}) {
			t.Fatalf("tokenUser = %v", tu)
		}
		claims := claimsOf(t, d["accessToken"].(string))
		for k, want := range map[string]any{"iss": "RG3", "aud": "api", "id": "ptdev", "name": "demo", "client_id": "ptdev",
			"push_name": "开发管理员", "role_id": "development", "developer": "1", "owner": "proj-1", "dep_id": "", "open_id": ""} {
			if claims[k] != want {
				t.Errorf("claim %s = %v, want %v", k, claims[k], want)
			}
		}
		if claims["expires"] != now.Add(30*time.Minute).In(shanghai).Format("2006/1/2 15:04:05") {
			t.Errorf("claim expires = %v", claims["expires"])
		}
		for _, k := range []string{"nbf", "exp", "iat", "sid", "wb_id", "wx_open_id", "wx_union_id", "telephone", "head_icon", "sys_id", "merge_user_id", "area_code"} {
			if _, ok := claims[k]; !ok {
				t.Errorf("claim %s missing", k)
			}
		}

		// snake_case: the same data, every key converted, nested ones too.
		r = e.do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh+"&_nodejs=common-data-under", e.headers("proj-1"), "")
		under := decodeNumbers(t, string(r.raw)).(map[string]any)
		ud := under["data"].(map[string]any)
		if want := []string{"access_token", "client_id", "expires", "expires_in", "refresh_token", "time_stamp", "token_type", "token_user"}; !reflect.DeepEqual(keysOf(ud), want) {
			t.Fatalf("snake data keys %v", keysOf(ud))
		}
		if want := []string{"area_code", "client_id", "dep_id", "developer", "job_id", "merge_user_id", "push_name", "role_id", "sys_id", "user_id", "user_name"}; !reflect.DeepEqual(keysOf(ud["token_user"].(map[string]any)), want) {
			t.Fatalf("snake token_user keys %v", keysOf(ud["token_user"].(map[string]any)))
		}
		if ud["refresh_token"] != refresh || ud["expires_in"].(json.Number).String() != "1800" || under["cacheType"] == nil {
			t.Fatalf("snake data = %v", ud)
		}
		// The refreshed token works; the old one too until it expires.
		if _, seen := e.echo(t, "/bo/api/v3/x", e.with(e.headers("proj-1"), "Authorization", "Bearer "+ud["access_token"].(string))); seen == nil {
			t.Fatal("refreshed token refused")
		}
		// Logout ends the session: refresh and access refused.
		if r := e.do(t, "POST", "/bo/api/v3/auth/logout", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access), ""); r.body["success"] != true {
			t.Fatalf("logout = %s", r.raw)
		}
		if r := e.do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh, e.headers("proj-1"), ""); r.status != 401 || r.intCode(t) != 40104 {
			t.Fatalf("refresh after logout = %d %s", r.status, r.raw)
		}
		if r, _ := e.echo(t, "/bo/api/v3/x", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access)); r.status != 401 || r.intCode(t) != 40103 {
			t.Fatalf("access after logout = %d %s", r.status, r.raw)
		}
	})
}

func TestBov3ExpiresInTimestampMode(t *testing.T) {
	e := startBov3(t, "memory", "    expires_in: timestamp_ms\n")
	r := e.do(t, "POST", "/bo/api/v3/auth/login", e.headers("p"), `{"userName":"demo","password":"demo123"}`)
	got := decodeNumbers(t, string(r.raw)).(map[string]any)["data"].(map[string]any)["expiresIn"].(json.Number).String()
	if want := fmt.Sprint(e.clock.Now().Add(30 * time.Minute).UnixMilli()); got != want {
		t.Fatalf("expiresIn %s, want %s", got, want)
	}
}

func errorShape(t *testing.T, r reply) {
	t.Helper()
	got := decodeNumbers(t, string(r.raw)).(map[string]any)
	want := map[string]any{"success": "bool", "code": "number", "message": "string", "error": map[string]any{"errorCode": "string", "errorText": "string"}}
	if !reflect.DeepEqual(shape(got), want) || got["success"] != false {
		t.Fatalf("error envelope %s", r.raw)
	}
}

func TestBov3VerifyAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startBov3(t, store, "")
		access, _ := e.login(t, "proj-1")
		call := func(verify string) reply {
			h := map[string]string{"XownerId": "proj-1", "Authorization": "Bearer " + access}
			if verify != "" {
				h["XverifyApi"] = verify
			}
			r, _ := e.echo(t, "/bo/api/v3/x", h)
			return r
		}
		now := e.clock.Now()
		fresh := e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), now.UnixMilli()))
		if r := call(fresh); r.status != 200 {
			t.Fatalf("fresh header: %d %s", r.status, r.raw)
		}
		wrongKey, _ := bov3.NewVerifyCipher([]byte("otherkey"), "ecb", nil, "base64")
		cbc, _ := bov3.NewVerifyCipher([]byte(desKey), "cbc", []byte("abcdefgh"), "base64")
		cases := []struct {
			name, header string
			code         int64
		}{
			{"replay", fresh, 40005},
			{"missing", "", 40003},
			{"not base64", "%%%", 40004},
			{"bad ciphertext length", "AAAA", 40004},
			{"bad padding", "AAAAAAAAAAA=", 40004},
			{"wrong key", wrongKey.Encrypt(bov3.NewGUID()), 40004},
			{"wrong mode", cbc.Encrypt(bov3.NewGUID() + "|" + fmt.Sprint(now.UnixMilli())), 40004},
			{"not a guid", e.cipher.Encrypt("hello|" + fmt.Sprint(now.UnixMilli())), 40004},
			{"too old", e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), now.Add(-6*time.Minute).UnixMilli())), 40006},
			{"from the future", e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), now.Add(6*time.Minute).UnixMilli())), 40006},
		}
		for _, c := range cases {
			r := call(c.header)
			if r.status != 400 || r.intCode(t) != c.code {
				t.Errorf("%s: %d %s, want 400 %d", c.name, r.status, r.raw, c.code)
				continue
			}
			errorShape(t, r)
		}
		// A GUID without a timestamp is accepted once.
		bare := e.cipher.Encrypt(bov3.NewGUID())
		if r := call(bare); r.status != 200 {
			t.Fatalf("bare GUID: %s", r.raw)
		}
		if r := call(bare); r.intCode(t) != 40005 {
			t.Fatalf("bare GUID replayed: %s", r.raw)
		}
		// Replays are caught on the auth endpoints too.
		h := e.headers("proj-1")
		e.do(t, "POST", "/bo/api/v3/auth/login", h, `{"userName":"demo","password":"demo123"}`)
		if r := e.do(t, "POST", "/bo/api/v3/auth/login", h, `{"userName":"demo","password":"demo123"}`); r.intCode(t) != 40005 {
			t.Fatalf("login with a replayed header: %s", r.raw)
		}
	})
}

func TestBov3VerifyEnforcementModes(t *testing.T) {
	opt := startBov3(t, "memory", "      enforcement: optional\n")
	if r := opt.do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p"}, `{"userName":"demo","password":"demo123"}`); r.status != 200 {
		t.Fatalf("optional, absent: %s", r.raw)
	}
	if r := opt.do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p", "XverifyApi": "AAAA"}, `{"userName":"demo","password":"demo123"}`); r.intCode(t) != 40004 {
		t.Fatalf("optional, bad: %s", r.raw)
	}
	off := startGateway(t, gwOptions{more: "  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      enforcement: off\n"})
	if r := off.do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p", "XverifyApi": "garbage"}, `{"userName":"demo","password":"demo123"}`); r.status != 200 {
		t.Fatalf("off: %s", r.raw)
	}
}

func TestBov3OwnerBinding(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startBov3(t, store, "")
		access, refresh := e.login(t, "proj-1")
		if r, _ := e.echo(t, "/bo/api/v3/x", e.with(e.headers("proj-2"), "Authorization", "Bearer "+access)); r.status != 403 || r.intCode(t) != 40300 {
			t.Fatalf("token under another owner = %d %s", r.status, r.raw)
		}
		if r := e.do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh, e.headers("proj-2"), ""); r.status != 403 || r.intCode(t) != 40300 {
			t.Fatalf("refresh under another owner = %d %s", r.status, r.raw)
		}
		h := e.headers("")
		delete(h, "XownerId")
		if r, _ := e.echo(t, "/bo/api/v3/x", e.with(h, "Authorization", "Bearer "+access)); r.status != 400 || r.intCode(t) != 40002 {
			t.Fatalf("no owner = %d %s", r.status, r.raw)
		}
		// A user limited to some projects logs in only under them.
		if r := e.do(t, "POST", "/bo/api/v3/auth/login", e.headers("proj-1"), `{"userName":"owned","password":"demo123"}`); r.intCode(t) != 40300 {
			t.Fatalf("owned user, other project = %s", r.raw)
		}
		if r := e.do(t, "POST", "/bo/api/v3/auth/login", e.headers("proj-a"), `{"userName":"owned","password":"demo123"}`); r.body["success"] != true {
			t.Fatalf("owned user, own project = %s", r.raw)
		}
	})
}

func TestBov3BadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startBov3(t, store, "")
		_, refresh := e.login(t, "p")
		mmm := e.testGateway.login(t)
		cases := []struct {
			name, method, path, body string
			headers                  map[string]string
			status                   int
			code                     int64
		}{
			{"login malformed", "POST", "/bo/api/v3/auth/login", `{"userName":`, nil, 400, 40000},
			{"login missing", "POST", "/bo/api/v3/auth/login", `{"userName":"demo"}`, nil, 400, 40000},
			{"login wrong type", "POST", "/bo/api/v3/auth/login", `{"userName":"demo","password":1}`, nil, 400, 40000},
			{"login oversized", "POST", "/bo/api/v3/auth/login", `{"userName":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, 41300},
			{"login wrong password", "POST", "/bo/api/v3/auth/login", `{"userName":"demo","password":"x"}`, nil, 401, 40105},
			{"login user without bo profile", "POST", "/bo/api/v3/auth/login", `{"userName":"other","password":"demo123"}`, nil, 401, 40105},
			{"refresh missing", "GET", "/bo/api/v3/auth/token/refresh", "", nil, 400, 40000},
			{"refresh malformed", "GET", "/bo/api/v3/auth/token/refresh?refreshToken=short", "", nil, 401, 40104},
			{"refresh unknown", "GET", "/bo/api/v3/auth/token/refresh?refreshToken=" + strings.Repeat("A", 32), "", nil, 401, 40104},
			{"bad _nodejs", "GET", "/bo/api/v3/auth/token/refresh?refreshToken=" + refresh + "&_nodejs=xml", "", nil, 400, 40001},
			{"refresh by POST", "POST", "/bo/api/v3/auth/token/refresh?refreshToken=" + refresh, "", nil, 405, 40500},
			{"no token", "GET", "/bo/api/v3/x", "", nil, 401, 40100},
			{"garbage token", "GET", "/bo/api/v3/x", "", map[string]string{"Authorization": "Bearer a.b.c"}, 401, 40101},
			{"mmm token", "GET", "/bo/api/v3/x", "", map[string]string{"Authorization": "Bearer " + mmm.Access}, 401, 40101},
		}
		for _, c := range cases {
			h := e.headers("p")
			for k, v := range c.headers {
				h[k] = v
			}
			r := e.do(t, c.method, c.path, h, c.body)
			if r.status != c.status || r.intCode(t) != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.status, r.raw, c.status, c.code)
				continue
			}
			errorShape(t, r)
		}
		// This dialect's token elsewhere.
		access, _ := e.login(t, "p")
		if r, _ := e.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.code(t) != "10013" {
			t.Fatalf("bov3 token on an mmm route = %s", r.raw)
		}
	})
}
