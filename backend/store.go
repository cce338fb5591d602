package backend

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/internal/secrets"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/memstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

// OpenStore returns the store of cfg.Store: the memory store, or Redis
// (standalone, Sentinel or Cluster). lookupEnv reads password_env; now
// is the memory store's sweep clock (time.Now when nil). A Redis store is
// connected lazily: Open does not dial.
func OpenStore(cfg *config.Config, lookupEnv func(string) (string, bool), now func() time.Time) (tokenstore.Store, error) {
	if cfg.Store.Driver != "redis" {
		return memstore.New(now), nil
	}
	rc := cfg.Store.Redis
	var password string
	if rc.Password != "" || rc.PasswordEnv != "" || rc.PasswordFile != "" {
		p, err := secrets.Resolve("password", secrets.Source{Inline: rc.Password, Env: rc.PasswordEnv, File: rc.PasswordFile}, lookupEnv, cfg.Dir(), 1)
		if err != nil {
			return nil, &config.ConfigError{Problems: []string{fmt.Sprintf("store.redis.%v", err)}}
		}
		password = string(p)
	}
	var tlsConf *tls.Config
	if rc.TLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: rc.TLSServerName}
	}
	s, err := redisstore.New(redisstore.Options{
		Addrs: rc.Addrs, MasterName: rc.MasterName, Username: rc.Username, Password: password,
		DB: rc.DB, TLS: tlsConf, DialTimeout: rc.DialTimeout, ReadTimeout: rc.ReadTimeout,
		WriteTimeout: rc.WriteTimeout, PoolSize: rc.PoolSize, MaxRetries: rc.MaxRetries, KeyPrefix: rc.KeyPrefix,
		WaitReplicas: rc.WaitReplicas, WaitTimeout: rc.WaitTimeout,
		CacheMaxAge: cfg.Store.Cache.MaxAge, CacheSize: cfg.Store.Cache.MaxEntries,
	})
	if err != nil {
		return nil, &config.ConfigError{Problems: []string{"store.redis: " + err.Error()}}
	}
	return s, nil
}
