// Package chaos holds a seeded chaos test of Herald, run from the outside:
// it builds ./cmd/herald, runs `herald dev` as a subprocess that it kills
// with SIGKILL and starts again on the same data dir, and talks to it only
// through the public HTTP API, real receivers on 127.0.0.1 and the embedded
// Temporal frontend. Everything random comes from one seed:
//
//	HERALD_TEST_LONG=1 go test ./chaos -seed 42 -duration 3m
//
// docs/testing.md says what it does and what it checks.
package chaos
