// Package scenario holds the scenario suite: tests that build the shipped
// worker binary, run `worker dev` as a subprocess on a fresh data directory
// against loopback HTTP receivers, and assert exact delivery counts under the
// faults users hit (a target down, HEAD not implemented, kill -9 and restart,
// a throttling receiver, redirects, out-of-order notifications, Kubernetes
// discovery unavailable at start).
//
// The package links no Temporal server: it drives the binary over HTTP only.
// Run it with `make test-scenarios`; `go test -short` skips the long kill -9
// burst. HERALD_WORKER_BIN names a prebuilt binary instead of building
// ./worker (make builds bin/worker once for this suite and the cluster
// tests).
package scenario
