package cluster

import (
	"fmt"
	"net"
	"strconv"
)

// freePorts returns n distinct loopback ports that were free a moment ago:
// all n listeners are open at once, so the kernel cannot hand out the same
// port twice, then all are closed for the nodes to bind.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portsFree reports whether every port can be bound on 127.0.0.1 right now,
// and if not, the error of the first that cannot.
func portsFree(ports []int) error {
	for _, p := range ports {
		ln, err := net.Listen("tcp", loopback(p))
		if err != nil {
			return err
		}
		ln.Close()
	}
	return nil
}

func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
