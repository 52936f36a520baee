package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A running `strata dev cluster` listens on a loopback port for requests of
// other strata commands (`strata dev cluster restart`) and writes that
// port's address to devControlFile in its data directory. A request is one
// line, "restart ID" or "restart all" (every node in turn). The answer is
// lines of progress, then "ok" or "error: " and why.
const (
	devControlFile   = "control.addr"
	devControlOK     = "ok"
	devControlErr    = "error: "
	devRestartAll    = "all"
	devSyncedTimeout = 2 * time.Minute
	flagRolling      = "rolling"
	flagNode         = "node"
)

// devSupervisor owns the node processes of a running dev cluster.
type devSupervisor struct {
	c      devCluster
	bin    string
	env    []string
	exited chan *devProc

	mu       sync.Mutex
	procs    []*devProc // the latest process of each node, in c.Nodes order
	stopping bool       // set once stopAll runs: no node starts again
	busy     bool       // a restart is in progress
}

// running returns the latest processes and how many of them still run.
func (s *devSupervisor) running() ([]*devProc, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.procs {
		select {
		case <-p.done:
		default:
			n++
		}
	}
	return append([]*devProc(nil), s.procs...), n
}

// stopAll stops every node; no node starts after it.
func (s *devSupervisor) stopAll() error {
	s.mu.Lock()
	s.stopping = true
	procs := append([]*devProc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		p.planned.Store(true)
	}
	return stopDevNodes(procs, devStopTimeout)
}

// serveControl answers control requests on l until ctx ends.
func (s *devSupervisor) serveControl(ctx context.Context, l net.Listener) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
			if err != nil {
				return
			}
			err = s.handle(ctx, strings.TrimSpace(line), conn)
			if err != nil {
				fmt.Fprintf(conn, "%s%v\n", devControlErr, err)
				return
			}
			fmt.Fprintln(conn, devControlOK)
		}()
	}
}

// handle runs one control request, writing progress to w.
func (s *devSupervisor) handle(ctx context.Context, req string, w io.Writer) error {
	op, arg, _ := strings.Cut(req, " ")
	if op != "restart" {
		return fmt.Errorf("unknown request %q", req)
	}
	var ids []int32
	if arg != devRestartAll {
		id, err := strconv.Atoi(arg)
		if err != nil || id < 1 || id > len(s.c.Nodes) {
			return fmt.Errorf("no node %q in this cluster of %d nodes", arg, len(s.c.Nodes))
		}
		ids = []int32{int32(id)}
	}
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return errors.New("another restart is in progress")
	}
	s.busy = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()
	// kadm answers Metadata from the client's cache for MetadataMinAge:
	// the in-sync checks need what the cluster says now.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.bootstrap(), ",")...), kgo.MetadataMinAge(freshMetadata))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	if ids == nil {
		md, err := adm.Metadata(ctx)
		if err != nil {
			return err
		}
		ids = rollingOrder(len(s.c.Nodes), md.Controller)
	}
	for _, id := range ids {
		if err := s.restart(ctx, int(id)-1, adm, w); err != nil {
			return err
		}
	}
	// Restarted nodes gave their leaderships away; give them back.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{})
	if err != nil {
		return fmt.Errorf("preferred leader election: %w", err)
	}
	moved := 0
	var failed []string
	for _, ps := range res {
		for _, r := range ps {
			if r.Err == nil {
				moved++
			} else {
				failed = append(failed, fmt.Sprintf("%s-%d: %v", r.Topic, r.Partition, r.Err))
			}
		}
	}
	fmt.Fprintf(w, "%d partitions led by their preferred replica again\n", moved)
	if len(failed) > 0 {
		slices.Sort(failed)
		fmt.Fprintf(w, "%d partitions not: %s\n", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// rollingOrder is the order a rolling restart of nodes 1..n takes: by id,
// the active controller last, so the quorum changes leader once.
func rollingOrder(n int, controller int32) []int32 {
	var ids []int32
	for id := int32(1); id <= int32(n); id++ {
		if id != controller {
			ids = append(ids, id)
		}
	}
	if controller >= 1 && controller <= int32(n) {
		ids = append(ids, controller)
	}
	return ids
}

// restart stops node i (a controlled shutdown) once every partition is
// fully in sync, starts it again, and waits until it is ready and every
// partition is in sync again, so that the next node may stop without
// taking a partition below its replicas. A node that is not running is
// only started.
func (s *devSupervisor) restart(ctx context.Context, i int, adm *kadm.Client, w io.Writer) error {
	n := s.c.Nodes[i]
	s.mu.Lock()
	p := s.procs[i]
	s.mu.Unlock()
	start := time.Now()
	select {
	case <-p.done:
		fmt.Fprintf(w, "node %d: not running; starting\n", n.ID)
	default:
		if err := waitInSync(ctx, adm, w, fmt.Sprintf("before node %d stops", n.ID)); err != nil {
			return err
		}
		start = time.Now()
		p.planned.Store(true)
		fmt.Fprintf(w, "node %d: stopping (pid %d)\n", n.ID, p.cmd.Process.Pid)
		if err := stopDevNodes([]*devProc{p}, devStopTimeout); err != nil {
			return err
		}
		fmt.Fprintf(w, "node %d: stopped in %s; starting\n", n.ID, time.Since(start).Round(time.Millisecond))
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errors.New("the cluster is stopping")
	}
	q, err := startDevNode(s.bin, n, s.env, s.exited)
	if err == nil {
		s.procs[i] = q
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(devReadyTimeout)
	tick := time.NewTicker(devReadyPoll)
	defer tick.Stop()
	for !devNodeReady(ctx, hc, n) {
		select {
		case <-q.done:
			return fmt.Errorf("node %d exited (%s) before it was ready; its log is %s", n.ID, q.status(), n.Log)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d is not ready after %s; its log is %s", n.ID, devReadyTimeout, n.Log)
		}
	}
	fmt.Fprintf(w, "node %d: ready (pid %d)\n", n.ID, q.cmd.Process.Pid)
	if err := waitInSync(ctx, adm, w, fmt.Sprintf("after node %d's restart", n.ID)); err != nil {
		return err
	}
	fmt.Fprintf(w, "node %d: restarted in %s\n", n.ID, time.Since(start).Round(time.Millisecond))
	return nil
}

// waitInSync waits until every partition has a leader and all its
// replicas in sync, for at most devSyncedTimeout.
func waitInSync(ctx context.Context, adm *kadm.Client, w io.Writer, when string) error {
	ctx, cancel := context.WithTimeout(ctx, devSyncedTimeout)
	defer cancel()
	tick := time.NewTicker(devReadyPoll)
	defer tick.Stop()
	said := false
	for {
		under, err := underReplicated(ctx, adm)
		if err == nil && under == 0 {
			return nil
		}
		if !said && err == nil {
			fmt.Fprintf(w, "waiting for %d under-replicated partitions to catch up %s\n", under, when)
			said = true
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d partitions", under)
			}
			return fmt.Errorf("partitions still under-replicated %s after %s: %w", when, devSyncedTimeout, err)
		case <-tick.C:
		}
	}
}

// underReplicated counts the partitions without a leader or with fewer
// in-sync replicas than replicas.
func underReplicated(ctx context.Context, adm *kadm.Client) (int, error) {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range md.Topics {
		if t.Err != nil {
			return 0, t.Err
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 || len(p.ISR) < len(p.Replicas) {
				n++
			}
		}
	}
	return n, nil
}

// listenControl opens the control listener and writes its address to the
// cluster's data directory.
func (s *devSupervisor) listenControl() (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(devHost, "0"))
	if err != nil {
		return nil, fmt.Errorf("control listener: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.c.Dir, devControlFile), []byte(l.Addr().String()+"\n"), 0o644); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func newDevClusterRestartCommand() *cobra.Command {
	var (
		dataDir string
		rolling bool
		node    int
	)
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Restart the nodes of a running dev cluster, one at a time",
		Long: `Restart nodes of the "strata dev cluster" running with data in --data-dir.

With --rolling every node restarts in turn; with --node N only node N does.
Each stop is a controlled shutdown (the node's leaderships move to other
in-sync replicas first), and the next node stops only once the restarted one
is ready and every partition has all its replicas in sync again, so clients
producing with acks=all see no error. At the end a preferred leader election
gives the restarted nodes their leaderships back. Progress is printed as it happens; the
command fails if a node does not come back or partitions stay
under-replicated for ` + devSyncedTimeout.String() + `.`,
		Example: `  strata dev cluster restart --rolling
  strata dev cluster restart --node 2 --data-dir /tmp/strata-cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rolling == (node != 0) {
				return fmt.Errorf("give either --%s or --%s N", flagRolling, flagNode)
			}
			return requestDevRestart(cmd.Context(), dataDir, rolling, node, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, flagDataDir, defaultDevDataDir, "data directory of the running dev cluster")
	f.BoolVar(&rolling, flagRolling, false, "restart every node in turn")
	f.IntVar(&node, flagNode, 0, "restart only this node")
	return cmd
}

// requestDevRestart asks the dev cluster in dataDir to restart its nodes
// (all in turn, or node alone) and copies its progress to out.
func requestDevRestart(ctx context.Context, dataDir string, rolling bool, node int, out io.Writer) error {
	data, err := os.ReadFile(filepath.Join(dataDir, devControlFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no dev cluster is running with data in %s (start one with: strata dev cluster --%s %s)", dataDir, flagDataDir, dataDir)
	}
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", strings.TrimSpace(string(data)))
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("the dev cluster with data in %s is not running (its control port does not answer)", dataDir)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	nodes := strconv.Itoa(node)
	if rolling {
		nodes = devRestartAll
	}
	if _, err := fmt.Fprintf(conn, "restart %s\n", nodes); err != nil {
		return err
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == devControlOK:
			return nil
		case strings.HasPrefix(line, devControlErr):
			return errors.New(strings.TrimPrefix(line, devControlErr))
		}
		fmt.Fprintln(out, line)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return errors.New("the dev cluster stopped before the restart was done")
}
