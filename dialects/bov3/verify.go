package bov3

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// VerifyCipher is the XverifyApi header's encryption: DES with PKCS#7
// padding, ECB or CBC, rendered as base64 or hex. The legacy front ends
// chose DES; the gateway only reads (and, for tests, writes) it.
type VerifyCipher struct {
	block    cipher.Block
	iv       []byte // nil for ECB
	encoding string // "base64" or "hex"
}

// Reasons an XverifyApi header is refused (also the metrics label).
var (
	ErrVerifyEncoding  = errors.New("bov3: XverifyApi is not valid base64/hex")
	ErrVerifyDecrypt   = errors.New("bov3: XverifyApi is not whole DES blocks")
	ErrVerifyPadding   = errors.New("bov3: XverifyApi padding is wrong (wrong key?)")
	ErrVerifyFormat    = errors.New("bov3: XverifyApi does not start with a GUID")
	ErrVerifyTimestamp = errors.New("bov3: XverifyApi timestamp outside the allowed skew")
)

// NewVerifyCipher builds the cipher. key is 8 bytes; mode "ecb" or
// "cbc" (then iv is 8 bytes); encoding "base64" or "hex".
func NewVerifyCipher(key []byte, mode string, iv []byte, encoding string) (*VerifyCipher, error) {
	block, err := des.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("key: DES needs 8 bytes, got %d", len(key))
	}
	c := &VerifyCipher{block: block, encoding: encoding}
	switch mode {
	case "ecb":
	case "cbc":
		if len(iv) != des.BlockSize {
			return nil, fmt.Errorf("iv: CBC needs 8 bytes, got %d", len(iv))
		}
		c.iv = iv
	default:
		return nil, fmt.Errorf("mode: %q is not one of ecb, cbc", mode)
	}
	if encoding != "base64" && encoding != "hex" {
		return nil, fmt.Errorf("encoding: %q is not one of base64, hex", encoding)
	}
	return c, nil
}

// Encrypt renders plain as a header value (the legacy front end's
// encryptByDES), for the bov3-verify-header command and tests.
func (c *VerifyCipher) Encrypt(plain string) string {
	n := des.BlockSize - len(plain)%des.BlockSize
	buf := append([]byte(plain), bytes.Repeat([]byte{byte(n)}, n)...)
	if c.iv != nil {
		cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(buf, buf)
	} else {
		// The standard library has no ECB mode (deliberately: it is weak);
		// the legacy header uses it, so blocks are encrypted one by one.
		for i := 0; i < len(buf); i += des.BlockSize {
			c.block.Encrypt(buf[i:i+des.BlockSize], buf[i:i+des.BlockSize])
		}
	}
	if c.encoding == "hex" {
		return hex.EncodeToString(buf)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// Decrypt reads a header value back to its plain text.
func (c *VerifyCipher) Decrypt(header string) (string, error) {
	var raw []byte
	var err error
	if c.encoding == "hex" {
		raw, err = hex.DecodeString(header)
	} else {
		raw, err = base64.StdEncoding.DecodeString(header)
	}
	if err != nil {
		return "", ErrVerifyEncoding
	}
	if len(raw) == 0 || len(raw)%des.BlockSize != 0 {
		return "", ErrVerifyDecrypt
	}
	if c.iv != nil {
		cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(raw, raw)
	} else {
		for i := 0; i < len(raw); i += des.BlockSize {
			c.block.Decrypt(raw[i:i+des.BlockSize], raw[i:i+des.BlockSize])
		}
	}
	n := int(raw[len(raw)-1])
	if n < 1 || n > des.BlockSize || n > len(raw) {
		return "", ErrVerifyPadding
	}
	for _, b := range raw[len(raw)-n:] {
		if int(b) != n {
			return "", ErrVerifyPadding
		}
	}
	return string(raw[:len(raw)-n]), nil
}

var guidShape = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// VerifyClaim is what a decrypted header says.
type VerifyClaim struct {
	// GUID, lower-cased, is the replay nonce.
	GUID string
	// At is the optional millisecond timestamp (zero when absent).
	At time.Time
}

// ParseVerifyPlain checks the decrypted text: a GUID, optionally "|" and
// a unix millisecond timestamp.
func ParseVerifyPlain(plain string) (VerifyClaim, error) {
	guid, ts, hasTS := strings.Cut(plain, "|")
	if !guidShape.MatchString(guid) {
		return VerifyClaim{}, ErrVerifyFormat
	}
	c := VerifyClaim{GUID: strings.ToLower(guid)}
	if hasTS {
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || ms <= 0 {
			return VerifyClaim{}, ErrVerifyFormat
		}
		c.At = time.UnixMilli(ms)
	}
	return c, nil
}

// NewGUID returns a random (version 4) GUID, as the legacy newGuid().
func NewGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
