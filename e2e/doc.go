// Package e2e holds the whole-gateway tests: gateways built from a config
// and served over HTTP (gateway/gatewaytest), each dialect end to end,
// several dialects on one route, the user databases (PostgreSQL,
// MySQL/MariaDB, an HTTP service) and the legacy service behind the
// switch-over, key rotation, the session cache across replicas, and
// replicas through Redis Sentinel failovers and Cluster resharding. What
// the gateway package does itself (routing, forwarding, admin API,
// reload, listeners) is tested in gateway; each room's own behaviour in
// its package, through its harness (dialecttest, storetest,
// directorytest).
package e2e
