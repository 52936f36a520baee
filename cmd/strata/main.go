// Command strata is the Strata broker, controller and CLI in one binary.
package main

import (
	"context"
	"os"

	"github.com/stratalog/strata/internal/cli"
)

func main() {
	// cobra prints the error once; only the exit code is left to set.
	if err := cli.NewRootCommand().ExecuteContext(context.Background()); err != nil {
		os.Exit(1)
	}
}
