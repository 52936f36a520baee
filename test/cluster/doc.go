// Package cluster is tooling for tests only: it is meant to be imported from
// _test.go files, never from the server.
//
// It has two parts:
//
//   - A Ledger of acknowledged (and attempted) records and a checker,
//     CheckAgainst, that fails the test unless every acknowledged record is
//     present exactly once at its acknowledged offset.
//   - LogHistory, a linearizability history of produces and fetches on one
//     partition, checked with porcupine by CheckLinearizable.
package cluster
