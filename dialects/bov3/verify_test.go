package bov3_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/bov3"
)

// Vectors made with OpenSSL (an independent DES implementation):
//
//	printf '<plain>' | openssl enc -des-ecb -K 64656d6f2d646573 | base64
//	printf '<plain>' | openssl enc -des-cbc -K 64656d6f2d646573 -iv 6162636465666768 | xxd -p
const (
	plainWithTS = "f47ac10b-58cc-4372-a567-0e02b2c3d479|1614246960367"
	plainBare   = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	ecbBase64   = "ZA3mgZ5HPCqQiUSqibaP+ZUYgSkz0XKlebg30PDJNpp68+blAqfQoFiS0T93cBQFGW18LtG04SA="
	cbcHex      = "f5e223cce8e29a3946ad54acbcfe2e4b046f6e6cefa6bb08ca4ebfe7436775d9e3d9936738b86b7f"
)

func mustCipher(t *testing.T, key, mode, iv, enc string) *bov3.VerifyCipher {
	t.Helper()
	c, err := bov3.NewVerifyCipher([]byte(key), mode, []byte(iv), enc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyCipherKnownAnswers(t *testing.T) {
	ecb := mustCipher(t, "demo-des", "ecb", "", "base64")
	if got := ecb.Encrypt(plainWithTS); got != ecbBase64 {
		t.Fatalf("ECB encrypt = %s, want OpenSSL's %s", got, ecbBase64)
	}
	if got, err := ecb.Decrypt(ecbBase64); err != nil || got != plainWithTS {
		t.Fatalf("ECB decrypt = %q, %v", got, err)
	}
	cbc := mustCipher(t, "demo-des", "cbc", "abcdefgh", "hex")
	if got := cbc.Encrypt(plainBare); got != cbcHex {
		t.Fatalf("CBC encrypt = %s, want OpenSSL's %s", got, cbcHex)
	}
	if got, err := cbc.Decrypt(cbcHex); err != nil || got != plainBare {
		t.Fatalf("CBC decrypt = %q, %v", got, err)
	}
}

func TestVerifyCipherRefusals(t *testing.T) {
	ecb := mustCipher(t, "demo-des", "ecb", "", "base64")
	cases := map[string]error{
		"not base64!":                bov3.ErrVerifyEncoding,
		"":                           bov3.ErrVerifyDecrypt,
		"AAAA":                       bov3.ErrVerifyDecrypt, // 3 bytes: not a whole block
		"AAAAAAAAAAA=":               bov3.ErrVerifyPadding, // one block of zeros decrypts to junk padding
		ecbBase64[:len(ecbBase64)-1]: bov3.ErrVerifyEncoding,
	}
	for in, want := range cases {
		if _, err := ecb.Decrypt(in); !errors.Is(err, want) {
			t.Errorf("Decrypt(%q) = %v, want %v", in, err, want)
		}
	}
	// The wrong key: the padding (or, rarely, the GUID) gives it away.
	other := mustCipher(t, "wrongkey", "ecb", "", "base64")
	plain, err := other.Decrypt(ecbBase64)
	if err == nil {
		if _, err = bov3.ParseVerifyPlain(plain); err == nil {
			t.Fatal("a header under another key was accepted")
		}
	}
	for _, c := range []struct{ key, mode, iv, enc string }{
		{"short", "ecb", "", "base64"}, {"demo-des", "cfb", "", "base64"},
		{"demo-des", "cbc", "short", "base64"}, {"demo-des", "ecb", "", "base32"},
	} {
		if _, err := bov3.NewVerifyCipher([]byte(c.key), c.mode, []byte(c.iv), c.enc); err == nil {
			t.Errorf("NewVerifyCipher(%+v) accepted", c)
		}
	}
}

func TestParseVerifyPlain(t *testing.T) {
	c, err := bov3.ParseVerifyPlain(strings.ToUpper(plainBare[:8]) + plainBare[8:] + "|1614246960367")
	if err != nil || c.GUID != plainBare || !c.At.Equal(time.UnixMilli(1614246960367)) {
		t.Fatalf("ParseVerifyPlain = %+v, %v", c, err)
	}
	if c, err := bov3.ParseVerifyPlain(plainBare); err != nil || !c.At.IsZero() {
		t.Fatalf("without timestamp = %+v, %v", c, err)
	}
	for _, bad := range []string{"", "not-a-guid", plainBare + "x", plainBare + "|", plainBare + "|abc", plainBare + "|-5", "{" + plainBare + "}", strings.ReplaceAll(plainBare, "-", "")} {
		if _, err := bov3.ParseVerifyPlain(bad); !errors.Is(err, bov3.ErrVerifyFormat) {
			t.Errorf("ParseVerifyPlain(%q) = %v, want ErrVerifyFormat", bad, err)
		}
	}
	if g := bov3.NewGUID(); !strings.HasPrefix(mustParse(t, g), g[:8]) {
		t.Fatalf("NewGUID %q", g)
	}
}

func mustParse(t *testing.T, guid string) string {
	t.Helper()
	c, err := bov3.ParseVerifyPlain(guid)
	if err != nil {
		t.Fatalf("NewGUID made %q: %v", guid, err)
	}
	return c.GUID
}

func FuzzVerifyDecoder(f *testing.F) {
	f.Add(ecbBase64)
	f.Add("AAAAAAAAAAA=")
	f.Add("")
	c, _ := bov3.NewVerifyCipher([]byte("demo-des"), "ecb", nil, "base64")
	f.Fuzz(func(t *testing.T, header string) {
		plain, err := c.Decrypt(header)
		if err != nil {
			return
		}
		// Whatever decrypts re-encrypts to the same header (a canonical
		// base64 input), and parsing never panics.
		if again := c.Encrypt(plain); again != header && strings.TrimRight(header, "=") == strings.TrimRight(again, "=") {
			t.Fatalf("round trip %q → %q → %q", header, plain, again)
		}
		_, _ = bov3.ParseVerifyPlain(plain)
	})
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"tokenUser": "token_user", "userId": "user_id", "timeStamp": "time_stamp", "expiresIn": "expires_in",
		"mergeUserId": "merge_user_id", "tokenType": "token_type", "clientId": "client_id", "developer": "developer",
		"userID": "user_id", "HTTPServer": "http_server", "already_snake": "already_snake", "a1B": "a1_b", "": "",
	} {
		if got := bov3.Snake(in); got != want {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want)
		}
	}
	in := map[string]any{"tokenUser": map[string]any{"roleId": []any{"x", map[string]any{"deepKey": 1}}}, "expiresIn": 5}
	out := bov3.SnakeKeys(in).(map[string]any)
	tu := out["token_user"].(map[string]any)
	if out["expires_in"] != 5 || tu["role_id"].([]any)[0] != "x" || tu["role_id"].([]any)[1].(map[string]any)["deep_key"] != 1 {
		t.Fatalf("SnakeKeys = %v", out)
	}
	if tu["role_id"].([]any)[0] != "x" {
		t.Fatal("values must not change")
	}
}

func FuzzSnake(f *testing.F) {
	for _, s := range []string{"tokenUser", "userID", "HTTPServer", "a_b", "ÄbcDef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := bov3.Snake(s)
		// Idempotent, and no upper-case letter survives that has a lower case.
		if bov3.Snake(out) != out {
			t.Fatalf("Snake(%q) = %q, not a fixed point (%q)", s, out, bov3.Snake(out))
		}
		if strings.ToLower(out) != out {
			t.Fatalf("Snake(%q) = %q keeps upper case", s, out)
		}
	})
}

func BenchmarkVerifyHeaderDecrypt(b *testing.B) {
	c, _ := bov3.NewVerifyCipher([]byte("demo-des"), "ecb", nil, "base64")
	b.ReportAllocs()
	for b.Loop() {
		plain, err := c.Decrypt(ecbBase64)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bov3.ParseVerifyPlain(plain); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnakeKeys(b *testing.B) {
	v := map[string]any{"tokenType": "Bearer", "tokenUser": map[string]any{"clientId": "x", "userId": "y", "roleId": []any{"a"}, "mergeUserId": []any{}}, "expiresIn": 1800}
	b.ReportAllocs()
	for b.Loop() {
		_ = bov3.SnakeKeys(v)
	}
}
