// Package backend opens the backends a configuration names and the
// gateway serves from: the token store (memory or Redis) and the user
// directory (the users file, the legacy service's database, or its HTTP
// service). Each opener takes the config and what it needs from the
// process, and answers with the backend, what must be closed with it, its
// warnings and its problems, each problem naming its config key — so the
// gateway itself knows only the interfaces (tokenstore.Store,
// identity.Directory), and check-config and reload list every problem at
// once. Every backend opener has this one shape — OpenStore and
// OpenDirectory here over sqldir.Open and httpdir.Open, and, from a
// dialect's own block in its factory, introspect.Open (the legacy
// service) and sms.Open (the SMS sender): the block, the folder its files
// resolve in, the environment's reader; problems named by key relative to
// the block (dialects.Under puts them under the dialect's).
package backend
