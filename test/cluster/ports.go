package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct loopback ports that were free a moment ago,
// for nodes that must bind them, and bind them again after a restart. They
// are picked below the kernel's ephemeral range, from which the source
// ports of outgoing connections come: a port from that range (what binding
// port 0 gives) can be taken by any connection between a node's stop and
// its restart. All n listeners are open at once, so no port is given twice.
func FreePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	low, high := 10000, ephemeralLow()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("pick %d free ports in [%d, %d): %d found", n, low, high, len(ports))
		}
		ln, err := net.Listen("tcp", loopback(low+rand.IntN(high-low)))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// ip_local_port_range; elsewhere, and when it leaves too little room
// below, the IANA range's start).
func ephemeralLow() int {
	const fallback = 49152
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fallback
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low < 20000 {
		return fallback
	}
	return low
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
