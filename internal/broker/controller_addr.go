package broker

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/stratalog/strata/internal/metadata"
)

// A voter added while the cluster runs (KIP-853) is in no other node's
// --controller-voters list. It records the address of its Raft listener in
// the metadata log, and every node dials the addresses the log holds, so
// the quorum finds it again after any of its members restarts.

// announceInterval is how often a node checks whether it must record its
// controller address.
const announceInterval = time.Second

// runAnnounceControllerAddr records this node's controller address once it
// is a voter that its own voters list does not name, and again if the
// address changes, until ctx ends.
func (b *Broker) runAnnounceControllerAddr(ctx context.Context) {
	addr := b.controllerAddr()
	if _, listed := b.cfg.Voters[b.cfg.NodeID]; listed || addr == "" {
		return
	}
	t := time.NewTicker(announceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		voters, _ := b.node.Members()
		if !slices.Contains(voters, uint64(b.cfg.NodeID)) || b.store.Current().ControllerAddrs()[b.cfg.NodeID] == addr {
			continue
		}
		if err := b.ctrl.SetControllerAddr(ctx, b.cfg.NodeID, addr); err != nil {
			b.logger.Warn("cannot record this node's controller address in the metadata log; retrying", "addr", addr, "err", err)
			continue
		}
		b.logger.Info("recorded this node's controller address in the metadata log", "addr", addr)
	}
}

// controllerAddr is the address other nodes reach this node's Raft listener
// at: its bound address, with the advertised host for a wildcard one; ""
// without a listener.
func (b *Broker) controllerAddr() string {
	a, ok := b.net.Addr().(*net.TCPAddr)
	if !ok || a == nil {
		return ""
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = b.host
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// dialLoggedControllers gives the network the controller addresses of the
// metadata log, whenever they change.
func (b *Broker) dialLoggedControllers(old, img *metadata.Image) {
	if old != nil && maps.Equal(old.ControllerAddrs(), img.ControllerAddrs()) {
		return
	}
	for id, addr := range img.ControllerAddrs() {
		b.net.SetAddress(uint64(id), addr)
	}
}
