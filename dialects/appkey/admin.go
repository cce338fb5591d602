package appkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/authgate/authgate/dialects"
)

var _ dialects.AdminRouter = (*Dialect)(nil)

// Apps switched off from the admin API are overrides in the store, under
// the instance's namespace, read by every replica at start and on every
// apps reload (reload_interval). The replica that takes the call applies
// it at once and ends the app's sessions then, which every replica's
// session cache hears of; the other replicas refuse new logins of the app
// from their next reload on.

// disabledValue marks an app switched off.
const disabledValue = "disabled"

func (d *Dialect) overridePrefix() string { return d.keys.Key("app") + ":" }

// loadOverrides reads the apps switched off; a store that does not answer
// keeps the ones known.
func (d *Dialect) loadOverrides(ctx context.Context) {
	all, err := d.store.Overrides(ctx, d.overridePrefix())
	if err != nil {
		d.log.Warn("reading the apps switched off from the admin API; keeping the known ones", "err", err)
		return
	}
	off := map[string]bool{}
	for k, v := range all {
		if v == disabledValue {
			off[strings.TrimPrefix(k, d.overridePrefix())] = true
		}
	}
	d.disabled.Store(&off)
}

// usable reports whether app may log in and refresh: enabled in its
// source and not switched off from the admin API.
func (d *Dialect) usable(app App) bool {
	return app.enabled() && !(*d.disabled.Load())[app.AppID]
}

// appStatus is an app as the admin API shows it (never a secret).
type appStatus struct {
	AppID string `json:"app_id"`
	// Enabled: the app may log in now.
	Enabled bool `json:"enabled"`
	// EnabledInSource is the apps file's (or table's) own flag.
	EnabledInSource bool `json:"enabled_in_source"`
	// DisabledByAdmin: an operator switched it off through the admin API.
	DisabledByAdmin bool `json:"disabled_by_admin"`
}

// errUnknownApp is an app id no app of the instance has.
var errUnknownApp = errors.New("no such app")

// AdminRoutes implements dialects.AdminRouter: the apps, listed and
// switched off and on (deploy/admin-openapi.yaml).
func (d *Dialect) AdminRoutes() []dialects.AdminRoute {
	return []dialects.AdminRoute{
		{Method: http.MethodGet, Path: "/apps", Action: "list_apps", Serve: func(*http.Request) dialects.AdminAnswer {
			return dialects.AdminAnswer{Status: http.StatusOK, Result: "ok", Body: map[string]any{"dialect": d.name, "apps": d.appStatuses()}}
		}},
		{Method: http.MethodPost, Path: "/apps/{app}/disable", Action: "disable_app", Serve: d.switchApp(false)},
		{Method: http.MethodPost, Path: "/apps/{app}/enable", Action: "enable_app", Serve: d.switchApp(true)},
	}
}

// switchApp answers POST .../apps/{app}/disable or /enable.
func (d *Dialect) switchApp(enabled bool) func(r *http.Request) dialects.AdminAnswer {
	return func(r *http.Request) dialects.AdminAnswer {
		app := r.PathValue("app")
		n, err := d.setAppEnabled(r.Context(), app, enabled)
		switch {
		case errors.Is(err, errUnknownApp):
			return dialects.AdminAnswer{Status: http.StatusNotFound, Result: "not_found", Target: app,
				Body: map[string]string{"error": "no app " + app + " in dialect " + d.name}}
		case err != nil:
			return dialects.AdminAnswer{Target: app, Err: err}
		}
		return dialects.AdminAnswer{Status: http.StatusOK, Result: "ok", Target: app, Attrs: []slog.Attr{slog.Int("revoked", n)},
			Body: map[string]any{"app_id": app, "enabled": enabled, "revoked": n}}
	}
}

// appStatuses lists the registered apps and whether each may log in.
func (d *Dialect) appStatuses() []appStatus {
	off := *d.disabled.Load()
	apps := d.apps.Load()
	out := make([]appStatus, 0, len(apps.byID))
	for id, app := range apps.byID {
		out = append(out, appStatus{AppID: id, Enabled: d.usable(app), EnabledInSource: app.enabled(), DisabledByAdmin: off[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	return out
}

// setAppEnabled switches an app on or off for every replica (an
// override in the store, over the apps source's own flag); switching it
// off ends its sessions, and their number comes back.
func (d *Dialect) setAppEnabled(ctx context.Context, appID string, enabled bool) (int, error) {
	if _, ok, err := d.apps.Load().lookup(appID); err != nil {
		return 0, fmt.Errorf("appkey %s: switch %q: %w", d.name, appID, err)
	} else if !ok {
		return 0, fmt.Errorf("appkey %s: %q: %w", d.name, appID, errUnknownApp)
	}
	value := disabledValue
	if enabled {
		value = ""
	}
	if err := d.store.SetOverride(ctx, d.overridePrefix()+appID, value); err != nil {
		return 0, fmt.Errorf("appkey %s: switch %q: %w", d.name, appID, err)
	}
	next := map[string]bool{}
	for id := range *d.disabled.Load() {
		next[id] = true
	}
	if enabled {
		delete(next, appID)
	} else {
		next[appID] = true
	}
	d.disabled.Store(&next)
	if enabled {
		return 0, nil
	}
	n, err := d.store.RevokeSubject(ctx, d.name, appID, d.now())
	if err != nil {
		return n, errors.Join(fmt.Errorf("appkey %s: end the sessions of %q", d.name, appID), err)
	}
	return n, nil
}
