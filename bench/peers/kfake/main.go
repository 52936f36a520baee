// Command kfake runs franz-go's in-memory Kafka (kfake) with its default
// settings on one loopback port, as a peer for Strata's benchmark suite
// (bench/run.sh). It runs until SIGINT or SIGTERM.
//
//	kfake -port 19092
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 19092, "port to listen on, on 127.0.0.1")
	flag.Parse()
	c, err := kfake.NewCluster(kfake.Ports(*port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("kfake ready on %v\n", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
