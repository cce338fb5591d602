package dialects

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/authgate/authgate/internal/confdecode"
	"github.com/authgate/authgate/internal/secrets"
)

// DecodeBlock decodes a dialect's config block into out strictly and
// returns every problem, each naming its key relative to the block
// ("sms.sender.colour: unknown key", `access_ttl: 1800 is a bare number,
// not a duration; ...`). out keeps the defaults of keys that failed, so
// the factory goes on to validate and lists those problems too.
func DecodeBlock(block map[string]any, out any) []error {
	var errs []error
	for _, p := range confdecode.Decode(block, out) {
		errs = append(errs, errors.New(p))
	}
	return errs
}

// SecretRef is the secret / secret_env / secret_file trio of a dialect
// block; embed it with `koanf:",squash"`.
type SecretRef struct {
	// Secret is the secret inline (for tests and demos); SecretEnv names
	// the environment variable that holds it, SecretFile the file
	// (relative to the config file). Exactly one is set.
	Secret     string `koanf:"secret"`
	SecretEnv  string `koanf:"secret_env"`
	SecretFile string `koanf:"secret_file"`
}

// Resolve reads the secret, at least min bytes long.
func (s SecretRef) Resolve(deps Deps, min int) ([]byte, error) {
	return secrets.Resolve("secret", secrets.Source{Inline: s.Secret, Env: s.SecretEnv, File: s.SecretFile}, deps.LookupEnv, deps.ConfigDir, min)
}

// demoKeyPrefix begins every signing key in deploy/demo: published, so a
// config that signs with one is warned about at start and by
// check-config.
const demoKeyPrefix = "demo-only-"

// SigningKey is a dialect's signing secret with the secrets it replaced:
// embed it with `koanf:",squash"` (secret / secret_env / secret_file, and
// previous). Rotating a key across replicas: add the new secret as the
// secret and the old one under previous, roll the replicas; tokens the old
// one signed keep verifying until they expire; then drop it from previous.
type SigningKey struct {
	SecretRef `koanf:",squash"`
	// Previous are secrets that still verify, never sign.
	Previous []SecretRef `koanf:"previous"`
}

// Resolve reads the secret and the previous ones, each at least min bytes;
// problems name their key (previous[1].secret_env).
func (k SigningKey) Resolve(deps Deps, min int) (secret []byte, previous [][]byte, errs []error) {
	secret, err := k.SecretRef.Resolve(deps, min)
	if err != nil {
		errs = append(errs, err)
	}
	if bytes.HasPrefix(secret, []byte(demoKeyPrefix)) {
		deps.Warnf("secret: DEMO KEY: a published demo signing key (deploy/demo/*.secret): anyone can sign tokens with it; never run it in production (make one with: openssl rand -base64 48)")
	}
	for i, p := range k.Previous {
		s, err := secrets.Resolve(fmt.Sprintf("previous[%d].secret", i), secrets.Source{Inline: p.Secret, Env: p.SecretEnv, File: p.SecretFile}, deps.LookupEnv, deps.ConfigDir, min)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		previous = append(previous, s)
	}
	return secret, previous, errs
}

// PositiveDurations reports each named duration that is not above zero,
// for config validation.
func PositiveDurations(named map[string]time.Duration) []error {
	var errs []error
	for key, d := range named {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", key, d))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// Under puts a block's problems under its key: each line of err (a
// backend's opener names keys relative to its own block) prefixed with
// prefix ("legacy.introspect.", "sms.sender.").
func Under(prefix string, err error) []error {
	var errs []error
	for _, p := range confdecode.Under(prefix, err) {
		errs = append(errs, errors.New(p))
	}
	return errs
}
