// Package backend opens the backends a configuration names and the
// gateway serves from: the token store (memory or Redis) and the user
// directory (the users file, the legacy service's database, or its HTTP
// service). Each opener takes the config and what it needs from the
// process, and answers with the backend, what must be closed with it, its
// warnings and its problems, each problem naming its config key — so the
// gateway itself knows only the interfaces (tokenstore.Store,
// identity.Directory), and check-config and reload list every problem at
// once. The dialects open their own backends (an introspection client, an
// SMS sender) from their blocks the same way, through their factories.
package backend
