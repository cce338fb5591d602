// Package config is authgate's configuration: the YAML file with
// AUTHGATE_CFG__ environment overrides, decoded (koanf) into typed
// blocks, checked block by block with every problem named by its key
// path, and tagged with which keys a reload may change (RestartKeys).
// Dialect blocks stay raw maps here: each dialect's factory decodes and
// checks its own.
package config
