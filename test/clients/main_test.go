// Package clients runs franz-go, sarama and kafka-go against a three-node
// Strata cluster of real processes on 127.0.0.1 (test/cluster): for each
// client, a topic's whole life through the client's own APIs (create with
// replication factor 3, metadata, produce with acks=all, consume plainly and
// in a group, committed offsets, list and describe, delete), and one fault:
// kill -9 of a partition leader while the client produces with acks=all,
// checked with a Ledger afterwards.
//
// The single-node end-to-end tests of the same clients are in test/e2e.
// Every test here starts strata processes and is skipped under -short.
package clients

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/stratalog/strata/test/cluster"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cluster.WithCleanup(m),
		// sarama's metrics registry keeps a ticker goroutine for the
		// process's life; kafka-go's transport leaves its metadata
		// discovery and idle connection readers to wind down after Close.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
