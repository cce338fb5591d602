package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/pipeline"

	"github.com/prometheus/client_golang/prometheus"
)

// Reloading: a new config is loaded and built in full (directory, dialect
// instances, routes, keys, TLS certificate) beside the running one; only
// when all of it stands is it swapped in, at once. Requests that started
// on the old one finish on it; its resources are released once they have.
// A config that does not load or build leaves the running one as it was.

// reloadMetrics are the outcome of the last reload.
type reloadMetrics struct {
	successful  prometheus.Gauge
	successTime prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer, now time.Time) *reloadMetrics {
	m := &reloadMetrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_config_last_reload_successful",
			Help: "1 if the last config reload (or the start) succeeded, 0 if it failed and the previous config is still running.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_config_last_reload_success_timestamp_seconds",
			Help: "When the running config was loaded (unix seconds).",
		}),
	}
	reg.MustRegister(m.successful, m.successTime)
	m.successful.Set(1)
	m.successTime.Set(float64(now.Unix()))
	return m
}

// Reload loads the config at path (with the environment's overrides) and,
// when it loads, builds and changes nothing that cannot change live,
// serves it from now on. Otherwise the running config stays, the error
// says why (every problem, each naming its key) and the log says so.
func (g *Gateway) Reload(path string, environ []string) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, err := config.Load(path, environ)
	if err == nil {
		if problems := config.RestartKeys(g.cfg, cfg); len(problems) > 0 {
			err = &config.ConfigError{Problems: problems}
		}
	}
	var gen *pipeline.Generation
	if err == nil {
		gen, err = g.b.Build(cfg)
	}
	if err != nil {
		g.reloads.successful.Set(0)
		g.log.Error("config reload failed; the running config stays", "config", path, "err", err.Error())
		return err
	}
	old := g.current.Swap(gen)
	g.reloads.successful.Set(1)
	g.reloads.successTime.Set(float64(g.o.Now().Unix()))
	for _, w := range gen.Warnings() {
		g.log.Warn("config warning", "warning", w)
	}
	g.log.Info("config reloaded", "config", path, "routes", len(cfg.Routes), "dialects", len(cfg.Dialects))
	go g.retire(old)
	return nil
}

// acquire is the running generation, counted in (Generation.Enter): a
// request serves from one generation from start to end, and Leaves it.
func (g *Gateway) acquire() *pipeline.Generation {
	for {
		if gen := g.current.Load(); gen.Enter() {
			return gen
		}
		// Retired between the load and the count: the swap has happened,
		// so the next load is the new generation.
	}
}

// retire releases a replaced generation's resources once the requests
// that started on it have finished (at most server.shutdown_timeout).
func (g *Gateway) retire(old *pipeline.Generation) {
	old.Retire(time.Now().Add(g.cfg.Server.ShutdownTimeout))
	if err := old.Close(); err != nil {
		g.log.Warn("closing the replaced config's resources", "err", err)
	}
}

// WatchConfig reloads when the config file, or a file it names (users,
// secrets, keys, TLS certificates), changes, checking every interval until
// ctx ends. A change is told by content, not by time stamps, so a
// Kubernetes ConfigMap's symlink swap counts and a touch does not. The
// appkey apps files are left out: their dialect re-reads them itself.
func (g *Gateway) WatchConfig(ctx context.Context, path string, environ []string, interval time.Duration) {
	last := watchedDigest(path, g.current.Load().Config())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		digest := watchedDigest(path, g.current.Load().Config())
		if digest == last {
			continue
		}
		last = digest
		g.log.Info("config files changed; reloading", "config", path)
		_ = g.Reload(path, environ)
	}
}

// watchedDigest hashes the config file and every file it names.
func watchedDigest(path string, cfg *config.Config) string {
	h := sha256.New()
	for _, f := range append([]string{path}, cfg.NamedFiles()...) {
		fmt.Fprintf(h, "%s\x00", f)
		if file, err := os.Open(f); err == nil {
			_, _ = io.Copy(h, file)
			_ = file.Close()
		}
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}
