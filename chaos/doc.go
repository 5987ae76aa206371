// Package chaos holds a seeded chaos test of Herald, run from the outside:
// it builds ./cmd/herald, runs it as subprocesses that it kills with SIGKILL
// and starts again (`herald dev` on its data dir in TestChaos; `herald api`
// or one of two `herald worker`s of the production shape in
// TestChaosProductionShape), and talks to it only through the public HTTP
// API, real receivers on 127.0.0.1 and the Temporal frontend. Everything
// random comes from one seed:
//
//	HERALD_TEST_LONG=1 go test ./chaos -seed 42 -duration 3m
//
// docs/testing.md says what it does and what it checks.
package chaos
