package bov3_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/internal/legacytest"
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

type env struct {
	*dialecttest.Env
	cipher *bov3.VerifyCipher
}

// start serves a bov3 instance named bov3 on a store of kind; extra adds
// lines to its block (indented by four spaces, six inside verify_api).
func start(t testing.TB, kind, extra string) *env {
	t.Helper()
	block := "    secret: bov3-test-signing-key-0123456789abcdef\n    time_zone: Asia/Shanghai\n    verify_api:\n      key: " + desKey + "\n" + extra
	storeKind := map[string]string{"memory": "local", "redis": "redis"}[kind]
	if kind == "" {
		storeKind = "local"
	}
	e := dialecttest.Start(t, bov3.Factory, "bov3", block, dialecttest.Options{Kind: kind, StoreKind: storeKind})
	c, err := bov3.NewVerifyCipher([]byte(desKey), "ecb", nil, "base64")
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: e, cipher: c}
}

// headers are a request's bo context: owner and a fresh XverifyApi.
func (e *env) headers(owner string) map[string]string {
	return map[string]string{
		"XownerId":   owner,
		"XverifyApi": e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), e.Clock.Now().UnixMilli())),
	}
}

func (e *env) with(h map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func (e *env) login(t testing.TB, owner string) (access, refresh string) {
	t.Helper()
	r := e.Do(t, "POST", "/bo/api/v3/auth/login", e.headers(owner), `{"userName":"demo","password":"demo123"}`)
	if r.Status != 200 || r.Body["success"] != true {
		t.Fatalf("login = %d %s", r.Status, r.Raw)
	}
	d := r.Obj(t, "data")
	return d["accessToken"].(string), d["refreshToken"].(string)
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func errorShape(t *testing.T, r dialecttest.Reply) {
	t.Helper()
	got := dialecttest.DecodeNumbers(t, string(r.Raw)).(map[string]any)
	want := map[string]any{"success": "bool", "code": "number", "message": "string", "error": map[string]any{"errorCode": "string", "errorText": "string"}}
	if !reflect.DeepEqual(dialecttest.Shape(got), want) || got["success"] != false {
		t.Fatalf("error envelope %s", r.Raw)
	}
}

func TestBov3FlowAndSeedShape(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		access, refresh := e.login(t, "proj-1")
		if len(refresh) != 32 || strings.Trim(refresh, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("refresh token %q is not 32 alphanumerics", refresh)
		}
		// A protected call: the identity, roles from the token, not from
		// the client's headers.
		_, seen := e.Protected(t, "/bo/api/v3/users?page=1", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access, "X-Auth-Roles", "admin"))
		if seen == nil {
			t.Fatal("protected call refused")
		}
		if want := map[string]string{"owner_id": "proj-1", "roles": "development"}; seen.Subject != "ptdev" || seen.Dialect != "bov3" || !reflect.DeepEqual(seen.Attrs, want) {
			t.Errorf("identity = %+v, want ptdev of bov3 with %v", seen, want)
		}

		e.Clock.Advance(10 * time.Minute)
		now := e.Clock.Now()
		r := e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh+"&_nodejs=common-data", e.headers("proj-1"), "")
		if r.Status != 200 || r.Body["success"] != true {
			t.Fatalf("refresh = %d %s", r.Status, r.Raw)
		}
		got := dialecttest.DecodeNumbers(t, string(r.Raw)).(map[string]any)
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
		seed := dialecttest.DecodeNumbers(t, seedExample)
		if !reflect.DeepEqual(dialecttest.Shape(got["data"]), dialecttest.Shape(seed)) {
			t.Fatalf("data shape\n got %v\nwant %v", dialecttest.Shape(got["data"]), dialecttest.Shape(seed))
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
		claims := dialecttest.Claims(t, d["accessToken"].(string))
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
		r = e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh+"&_nodejs=common-data-under", e.headers("proj-1"), "")
		under := dialecttest.DecodeNumbers(t, string(r.Raw)).(map[string]any)
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
		if _, seen := e.Protected(t, "/bo/api/v3/x", e.with(e.headers("proj-1"), "Authorization", "Bearer "+ud["access_token"].(string))); seen == nil {
			t.Fatal("refreshed token refused")
		}
		// Logout ends the session: refresh and access refused.
		if r := e.Do(t, "POST", "/bo/api/v3/auth/logout", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access), ""); r.Body["success"] != true {
			t.Fatalf("logout = %s", r.Raw)
		}
		if r := e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh, e.headers("proj-1"), ""); r.Status != 401 || r.Int(t, "code") != 40104 {
			t.Fatalf("refresh after logout = %d %s", r.Status, r.Raw)
		}
		if r, _ := e.Protected(t, "/bo/api/v3/x", e.with(e.headers("proj-1"), "Authorization", "Bearer "+access)); r.Status != 401 || r.Int(t, "code") != 40103 {
			t.Fatalf("access after logout = %d %s", r.Status, r.Raw)
		}
	})
}

func TestBov3ExpiresInTimestampMode(t *testing.T) {
	e := start(t, "memory", "    expires_in: timestamp_ms\n")
	r := e.Do(t, "POST", "/bo/api/v3/auth/login", e.headers("p"), `{"userName":"demo","password":"demo123"}`)
	got := dialecttest.DecodeNumbers(t, string(r.Raw)).(map[string]any)["data"].(map[string]any)["expiresIn"].(json.Number).String()
	if want := fmt.Sprint(e.Clock.Now().Add(30 * time.Minute).UnixMilli()); got != want {
		t.Fatalf("expiresIn %s, want %s", got, want)
	}
}

func TestBov3VerifyAPI(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		access, _ := e.login(t, "proj-1")
		call := func(verify string) dialecttest.Reply {
			h := map[string]string{"XownerId": "proj-1", "Authorization": "Bearer " + access}
			if verify != "" {
				h["XverifyApi"] = verify
			}
			r, _ := e.Protected(t, "/bo/api/v3/x", h)
			return r
		}
		now := e.Clock.Now()
		fresh := e.cipher.Encrypt(fmt.Sprintf("%s|%d", bov3.NewGUID(), now.UnixMilli()))
		if r := call(fresh); r.Status != 200 {
			t.Fatalf("fresh header: %d %s", r.Status, r.Raw)
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
			if r.Status != 400 || r.Int(t, "code") != c.code {
				t.Errorf("%s: %d %s, want 400 %d", c.name, r.Status, r.Raw, c.code)
				continue
			}
			errorShape(t, r)
		}
		// A GUID without a timestamp is accepted once.
		bare := e.cipher.Encrypt(bov3.NewGUID())
		if r := call(bare); r.Status != 200 {
			t.Fatalf("bare GUID: %s", r.Raw)
		}
		if r := call(bare); r.Int(t, "code") != 40005 {
			t.Fatalf("bare GUID replayed: %s", r.Raw)
		}
		// Replays are caught on the auth endpoints too.
		h := e.headers("proj-1")
		e.Do(t, "POST", "/bo/api/v3/auth/login", h, `{"userName":"demo","password":"demo123"}`)
		if r := e.Do(t, "POST", "/bo/api/v3/auth/login", h, `{"userName":"demo","password":"demo123"}`); r.Int(t, "code") != 40005 {
			t.Fatalf("login with a replayed header: %s", r.Raw)
		}
	})
}

func TestBov3VerifyEnforcementModes(t *testing.T) {
	opt := start(t, "memory", "      enforcement: optional\n")
	if r := opt.Do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p"}, `{"userName":"demo","password":"demo123"}`); r.Status != 200 {
		t.Fatalf("optional, absent: %s", r.Raw)
	}
	if r := opt.Do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p", "XverifyApi": "AAAA"}, `{"userName":"demo","password":"demo123"}`); r.Int(t, "code") != 40004 {
		t.Fatalf("optional, bad: %s", r.Raw)
	}
	off := dialecttest.Start(t, bov3.Factory, "bov3", "secret: bov3-test-signing-key-0123456789abcdef\nverify_api:\n  enforcement: off\n", dialecttest.Options{})
	if r := off.Do(t, "POST", "/bo/api/v3/auth/login", map[string]string{"XownerId": "p", "XverifyApi": "garbage"}, `{"userName":"demo","password":"demo123"}`); r.Status != 200 {
		t.Fatalf("off: %s", r.Raw)
	}
}

func TestBov3OwnerBinding(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		access, refresh := e.login(t, "proj-1")
		if r, _ := e.Protected(t, "/bo/api/v3/x", e.with(e.headers("proj-2"), "Authorization", "Bearer "+access)); r.Status != 403 || r.Int(t, "code") != 40300 {
			t.Fatalf("token under another owner = %d %s", r.Status, r.Raw)
		}
		if r := e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh, e.headers("proj-2"), ""); r.Status != 403 || r.Int(t, "code") != 40300 {
			t.Fatalf("refresh under another owner = %d %s", r.Status, r.Raw)
		}
		h := e.headers("")
		delete(h, "XownerId")
		if r, _ := e.Protected(t, "/bo/api/v3/x", e.with(h, "Authorization", "Bearer "+access)); r.Status != 400 || r.Int(t, "code") != 40002 {
			t.Fatalf("no owner = %d %s", r.Status, r.Raw)
		}
		// A user limited to some projects logs in only under them.
		if r := e.Do(t, "POST", "/bo/api/v3/auth/login", e.headers("proj-1"), `{"userName":"owned","password":"demo123"}`); r.Int(t, "code") != 40300 {
			t.Fatalf("owned user, other project = %s", r.Raw)
		}
		if r := e.Do(t, "POST", "/bo/api/v3/auth/login", e.headers("proj-a"), `{"userName":"owned","password":"demo123"}`); r.Body["success"] != true {
			t.Fatalf("owned user, own project = %s", r.Raw)
		}
	})
}

func TestBov3BadInput(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		_, refresh := e.login(t, "p")
		foreign := foreignToken(t, e.Clock.Now())
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
			{"token of another key", "GET", "/bo/api/v3/x", "", map[string]string{"Authorization": "Bearer " + foreign}, 401, 40101},
		}
		for _, c := range cases {
			h := e.headers("p")
			for k, v := range c.headers {
				h[k] = v
			}
			r := e.Do(t, c.method, c.path, h, c.body)
			if r.Status != c.status || r.Int(t, "code") != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.Status, r.Raw, c.status, c.code)
				continue
			}
			errorShape(t, r)
		}
	})
}

// foreignToken is a well-formed HS256 JWT of another key and issuer.
func foreignToken(t testing.TB, now time.Time) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer("mmm_oppmg").Expiration(now.Add(time.Hour)).Claim("sid", "x").Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte("another-key-another-key-another-key!!")))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestContract(t *testing.T) {
	dialecttest.Contract(t, dialecttest.Case{
		Factory: bov3.Factory, Name: "bov3",
		Block: "secret: bov3-test-signing-key-0123456789abcdef\nverify_api:\n  key: " + desKey + "\n",
		Login: func(t *testing.T, de *dialecttest.Env) func() map[string]string {
			e := &env{Env: de}
			e.cipher, _ = bov3.NewVerifyCipher([]byte(desKey), "ecb", nil, "base64")
			access, _ := e.login(t, "proj-1")
			return func() map[string]string { return e.with(e.headers("proj-1"), "Authorization", "Bearer "+access) }
		},
		Garbage: []map[string]string{
			{"Authorization": "Bearer garbage", "XownerId": "p", "XverifyApi": "AAAA"},
			{"Authorization": "Bearer a.b.c", "XownerId": "p", "XverifyApi": "AAAA"},
			{"Authorization": "Bearer " + foreignToken(t, time.Now()), "XownerId": "p", "XverifyApi": "AAAA"},
		},
		Legacy: &dialecttest.LegacyCase{
			Block: func(url string) string { return "legacy:\n  introspect:\n    url: " + url + "/introspect\n" },
			Token: func(t *testing.T, svc *legacytest.Service) string { return svc.IssueOpaque("demo", 24*time.Hour) },
			Refresh: func(t *testing.T, e *dialecttest.Env, tok string) bool {
				be := &env{Env: e}
				be.cipher, _ = bov3.NewVerifyCipher([]byte(desKey), "ecb", nil, "base64")
				r := e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?_nodejs=common-data&refreshToken="+tok, be.headers("proj-1"), "")
				return r.Status == 200 && r.Body["success"] == true
			},
			Subject: "ptdev",
		},
	})
}

// FuzzAuthenticate: whatever a client puts in Authorization, XownerId and
// XverifyApi, the request passes only with the access token this
// instance issued, under its owner, and every refusal carries a reason.
func FuzzAuthenticate(f *testing.F) {
	e := start(f, "memory", "      enforcement: optional\n")
	access, _ := e.login(f, "proj-1")
	f.Add("Bearer "+access, "proj-1", "")
	f.Add("Bearer "+access, "proj-2", e.headers("proj-2")["XverifyApi"])
	f.Add("Bearer a.b.c", "proj-1", "AAAA")
	f.Add(access, "", "%%%")
	f.Fuzz(func(t *testing.T, authorization, owner, verify string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header["Authorization"] = []string{authorization}
		req.Header["Xownerid"] = []string{owner}
		req.Header["Xverifyapi"] = []string{verify}
		id, err := e.Dialect.Authenticate(req)
		if err == nil && (!strings.Contains(authorization, access) || strings.TrimSpace(owner) != "proj-1" || id.Subject != "ptdev") {
			t.Fatalf("passed with %q %q %q: %+v", authorization, owner, verify, id)
		}
		if reason := dialects.Reason(err); err != nil && (reason == "error" || reason == "store_unavailable") {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

func TestQueryAndContextSentTwiceAreRefused(t *testing.T) {
	e := start(t, "memory", "")
	access, refresh := e.login(t, "proj-1")
	r := e.Do(t, "GET", "/bo/api/v3/auth/token/refresh?refreshToken="+refresh+"&refreshToken="+refresh, e.headers("proj-1"), "")
	if r.Status != 400 || r.Int(t, "code") != 40000 {
		t.Fatalf("two refreshToken parameters = %d %s, want 400 40000", r.Status, r.Raw)
	}
	req, _ := http.NewRequest("GET", e.URL+"/bo/api/v3/x", nil)
	for k, v := range e.headers("proj-1") {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Add("XownerId", "proj-2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("two XownerId = %d, want 400", resp.StatusCode)
	}
}
