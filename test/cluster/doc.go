// Package cluster is tooling for tests only: it is meant to be imported from
// _test.go files, never from the server.
//
// It has three parts:
//
//   - A multi-process cluster harness: Build compiles cmd/strata once per
//     test binary, Start runs N `strata serve` processes on 127.0.0.1, and
//     each Node can be killed, stopped, paused, resumed and restarted on the
//     same ports and data directory, and read for a metric (Metric);
//     CreateAssigned creates a topic with the replicas a test chooses.
//   - A Ledger of acknowledged (and attempted) records and a checker,
//     CheckAgainst, that fails the test unless every acknowledged record is
//     present exactly once at its acknowledged offset; ReadAll reads a topic
//     back to its high watermark for it.
//   - LogHistory, a linearizability history of produces and fetches on one
//     partition, checked with porcupine by CheckLinearizable.
//
// A test package that calls Build needs a TestMain that removes the binary
// at the end:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.WithCleanup(m).Run()) }
//
// Fault methods (Kill, Stop, Restart, ...) may call t.Fatal, so call them
// from the test goroutine; run workloads in other goroutines.
//
// A failed test prints the last 50 lines of each node's log; with
// STRATA_TEST_LOGS=DIR set, the whole logs are also copied into DIR.
package cluster
