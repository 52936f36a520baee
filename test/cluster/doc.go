// Package cluster is tooling for tests only: it is meant to be imported from
// _test.go files, never from the server.
//
// A Ledger records acknowledged (and attempted) records, and CheckAgainst
// fails the test unless every acknowledged record is present exactly once
// at its acknowledged offset.
package cluster
