package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// The binary is built once per test binary run and shared by every test in
// it; go build's cache makes rebuilding cheap, but linking still costs
// seconds per test.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error

	// cleanupInstalled is set by WithCleanup; Build refuses to run without
	// it, since nothing else would remove the binary's directory.
	cleanupInstalled atomic.Bool
)

// TestingM is the part of *testing.M that TestMain runs (goleak's
// VerifyTestMain takes the same).
type TestingM interface {
	Run() int
}

type cleanupM struct{ m TestingM }

func (c cleanupM) Run() int {
	defer removeBuild()
	return c.m.Run()
}

// WithCleanup wraps m so that running it also removes the binary built by
// Build. Every test package that calls Build must use it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.WithCleanup(m).Run()) }
//
// or, with goleak, goleak.VerifyTestMain(cluster.WithCleanup(m)).
func WithCleanup(m TestingM) TestingM {
	cleanupInstalled.Store(true)
	return cleanupM{m}
}

func removeBuild() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Build builds ./cmd/strata of the enclosing module once per test binary run
// and returns the binary's path. It fails the test if the build fails.
func Build(t testing.TB) string {
	t.Helper()
	if !cleanupInstalled.Load() {
		t.Fatal("cluster.Build needs TestMain to run the tests through cluster.WithCleanup, which removes the binary")
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "strata-cluster-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "strata")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/strata")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// moduleRoot walks up from the working directory (the test's package
// directory under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}
