package cli

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/stratalog/strata/test/cluster"
)

// TestMain checks for leaked goroutines and removes the strata binary that
// the multi-process tests build (cluster.Build).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cluster.WithCleanup(m))
}
