package dialects

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// NewID returns a random, URL-safe identifier of 128 bits.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how refresh tokens are kept in the store. Tokens carry 128
// bits or more of randomness, so a fast hash suffices; the store never
// sees the token itself.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Rotation is one exchange of a rotating refresh token for the answer T
// (the dialect's token pair): Next is what the client gets if this
// presentation wins, NextRefresh the refresh token inside it.
type Rotation[T any] struct {
	Dialect       string
	SessionID     string
	Presented     string
	Next          T
	NextRefresh   string
	NextExpiresAt time.Time
	Grace         time.Duration
	Now           time.Time
	// Renew gives back a replayed answer with a live access token: the
	// earlier winner's may have expired within the grace window (an
	// access TTL shorter than the grace), and a client must never be
	// handed an access token that is already dead. It keeps the refresh
	// token, which the store holds; nil hands the answer back as it is.
	Renew func(earlier T) (T, error)
}

// RotateRefresh runs the refresh-rotation protocol every rotating dialect
// shares: the new answer is sealed with a key only the presented token
// opens and handed to the store's atomic rotation. The winner gets Next;
// a replay within the grace window gets the earlier winner's answer
// unsealed (the very same pair, its access token renewed by Renew if it
// has expired meanwhile); a replay after it comes back as
// tokenstore.ErrReused (the store has ended the session), an unknown or
// revoked token as tokenstore.ErrNotFound, for the dialect to map to its
// codes. Metrics count the rotated, grace_replay and reused outcomes.
func RotateRefresh[T any](ctx context.Context, store tokenstore.Sessions, m *Metrics, r Rotation[T]) (T, error) {
	var zero T
	sealed, err := SealSuccessor(r.Presented, r.Next)
	if err != nil {
		return zero, err
	}
	res, err := store.RotateRefresh(ctx, tokenstore.Rotation{
		SessionID: r.SessionID, Presented: HashToken(r.Presented), Next: HashToken(r.NextRefresh),
		NextExpiresAt: r.NextExpiresAt, Successor: sealed, Grace: r.Grace, Now: r.Now,
	})
	switch {
	case errors.Is(err, tokenstore.ErrReused):
		m.Refreshed(r.Dialect, "reused")
		return zero, err
	case err != nil:
		return zero, err
	case res.Replayed:
		var earlier T
		if err := OpenSuccessor(r.Presented, res.Successor, &earlier); err != nil {
			return zero, err
		}
		m.Refreshed(r.Dialect, "grace_replay")
		if r.Renew != nil {
			return r.Renew(earlier)
		}
		return earlier, nil
	}
	m.Refreshed(r.Dialect, "rotated")
	m.Issued(r.Dialect, "refresh")
	return r.Next, nil
}

// successorKey derives the key that seals a rotation's successor from the
// presented refresh token: only a holder of that token can open it, so the
// store never holds a usable token in clear.
func successorKey(presented string) []byte {
	sum := sha256.Sum256([]byte("authgate successor\x00" + presented))
	return sum[:]
}

// SealSuccessor encrypts v (the new token pair) with a key derived from the
// presented refresh token, for tokenstore.Rotation.Successor.
func SealSuccessor(presented string, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	gcm, err := successorAEAD(presented)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, nil), nil
}

// OpenSuccessor decrypts a sealed successor into v.
func OpenSuccessor(presented string, sealed []byte, v any) error {
	gcm, err := successorAEAD(presented)
	if err != nil {
		return err
	}
	if len(sealed) < gcm.NonceSize() {
		return errors.New("dialects: sealed successor too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return fmt.Errorf("dialects: open successor: %w", err)
	}
	return json.Unmarshal(plain, v)
}

func successorAEAD(presented string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(successorKey(presented))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
