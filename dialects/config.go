package dialects

import (
	"fmt"
	"sort"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/authgate/authgate/internal/secrets"
)

// DecodeBlock decodes a dialect's config block into out strictly: unknown
// keys and wrong types are errors naming the key; "30m" style strings
// become time.Duration.
func DecodeBlock(block map[string]any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		TagName:          "koanf",
	})
	if err != nil {
		return err
	}
	return dec.Decode(block)
}

// SecretRef is the secret / secret_env / secret_file trio of a dialect
// block; embed it with `koanf:",squash"`.
type SecretRef struct {
	Secret     string `koanf:"secret"`
	SecretEnv  string `koanf:"secret_env"`
	SecretFile string `koanf:"secret_file"`
}

// Resolve reads the secret, at least min bytes long.
func (s SecretRef) Resolve(deps Deps, min int) ([]byte, error) {
	return secrets.Resolve("secret", secrets.Source{Inline: s.Secret, Env: s.SecretEnv, File: s.SecretFile}, deps.LookupEnv, deps.ConfigDir, min)
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
