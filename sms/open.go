package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authgate/authgate/internal/secrets"
)

// Config chooses how codes leave the gateway: a dialect's sms.sender
// block.
type Config struct {
	// Type is "webhook" or "log" (development only).
	Type string `koanf:"type"`
	// URL is the webhook the codes are posted to.
	URL string `koanf:"url"`
	// Secret (or SecretEnv, SecretFile) is the webhook's HMAC key, 16+
	// bytes; SignatureHeader carries the signature.
	Secret          string `koanf:"secret"`
	SecretEnv       string `koanf:"secret_env"`
	SecretFile      string `koanf:"secret_file"`
	SignatureHeader string `koanf:"signature_header"`
	// Timeout bounds one call; MaxAttempts and Backoff retry a failed one.
	Timeout     time.Duration `koanf:"timeout"`
	MaxAttempts int           `koanf:"max_attempts"`
	Backoff     time.Duration `koanf:"backoff"`
}

// Open checks the block and builds its sender, as every backend of the
// gateway is opened (the token store, the user directories, the
// introspection client): the block, the folder relative files resolve
// in, the environment's reader; problems name their key relative to the
// block, and what works but an operator must know comes back as warnings
// (the log sender). now is the webhook's clock.
func Open(c Config, dir string, lookupEnv func(string) (string, bool), log *slog.Logger, now func() time.Time) (Sender, []string, error) {
	switch c.Type {
	case "log":
		return Log{Logger: log}, []string{"type: SMS LOG SENDER ON: login codes are written to the log; anyone who reads it can log in as anyone. Development only."}, nil
	case "webhook":
		var errs []error
		if c.URL == "" {
			errs = append(errs, errors.New("url: required for the webhook sender"))
		}
		secret, err := secrets.Resolve("secret", secrets.Source{Inline: c.Secret, Env: c.SecretEnv, File: c.SecretFile}, lookupEnv, dir, 16)
		if err != nil {
			errs = append(errs, err)
		}
		if c.Timeout <= 0 || c.MaxAttempts < 1 {
			errs = append(errs, errors.New("timeout must be positive and max_attempts at least 1"))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, nil, err
		}
		return &Webhook{
			URL: c.URL, Secret: secret, SignatureHeader: c.SignatureHeader, Timeout: c.Timeout,
			MaxAttempts: c.MaxAttempts, Backoff: c.Backoff, Now: now,
		}, nil, nil
	default:
		return nil, nil, fmt.Errorf("type: %q is not one of webhook, log", c.Type)
	}
}
