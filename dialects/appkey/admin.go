package appkey

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/authgate/authgate/dialects"
)

var _ dialects.AppAdmin = (*Dialect)(nil)

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

// Apps implements dialects.AppAdmin.
func (d *Dialect) Apps() []dialects.AppStatus {
	off := *d.disabled.Load()
	apps := d.apps.Load()
	out := make([]dialects.AppStatus, 0, len(apps.byID))
	for id, app := range apps.byID {
		out = append(out, dialects.AppStatus{AppID: id, Enabled: d.usable(app), EnabledInSource: app.enabled(), DisabledByAdmin: off[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	return out
}

// SetAppEnabled implements dialects.AppAdmin.
func (d *Dialect) SetAppEnabled(ctx context.Context, appID string, enabled bool) (int, error) {
	if _, ok, err := d.apps.Load().lookup(appID); err != nil {
		return 0, fmt.Errorf("appkey %s: switch %q: %w", d.name, appID, err)
	} else if !ok {
		return 0, fmt.Errorf("appkey %s: %q: %w", d.name, appID, dialects.ErrUnknownApp)
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
