package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/internal/config"
)

// Layout of a dev cluster. Node i (from 1) listens on base+i-1 for Kafka,
// base+devRaftPortOffset+i-1 for Raft and base+devAdminPortOffset+i-1 for
// admin HTTP, so the default base 9092 gives serve's own defaults (9092 and
// 9644) to node 1.
const (
	devHost            = "127.0.0.1"
	defaultDevDataDir  = "./strata-cluster"
	defaultDevBasePort = 9092
	defaultDevNodes    = 3
	devRaftPortOffset  = 101
	devAdminPortOffset = 552
	// More nodes would make the Kafka and Raft port ranges overlap.
	maxDevNodes = devRaftPortOffset

	devLogFile     = "strata.log"
	devClusterFile = "cluster.txt"

	devReadyTimeout = 30 * time.Second
	devReadyPoll    = 100 * time.Millisecond
	devStopTimeout  = 10 * time.Second
	devLogTailLines = 15
)

// Flag names of `strata dev cluster` not shared with `strata serve`.
const (
	flagNodes        = "nodes"
	flagBasePort     = "base-port"
	flagVoters       = "voters"
	flagStrataBinary = "strata-binary"
)

// devClusterOptions are the flags of `strata dev cluster`.
type devClusterOptions struct {
	nodes    int
	dataDir  string
	basePort int
	voters   int // 0: chosen from nodes by defaultDevVoters
	sets     []string
	logLevel string
	binary   string // the strata binary to run; "": this executable
}

// devNode is one planned node of a dev cluster.
type devNode struct {
	ID    int
	Dir   string // data directory
	Log   string // file taking the node's stdout and stderr
	Kafka string // host:port of the Kafka listener
	Raft  string // host:port of the Raft listener; "" unless Voter
	Admin string // host:port of the admin HTTP listener
	Voter bool
	Args  []string // arguments of the strata binary, starting with "serve"
}

// devCluster is the plan of a dev cluster, computed from the flags alone.
type devCluster struct {
	Dir    string
	Nodes  []devNode
	Voters int // the first Voters nodes are the controller voters
}

// defaultDevVoters is the quorum size for n nodes: one voter for one or two
// nodes (two voters tolerate no more failures than one), else three, or
// five from five nodes up.
func defaultDevVoters(n int) int {
	switch {
	case n <= 2:
		return 1
	case n <= 4:
		return 3
	default:
		return 5
	}
}

// planDevCluster validates o and computes every node's addresses, paths and
// serve arguments. It touches neither the network nor the disk.
func planDevCluster(o devClusterOptions) (devCluster, error) {
	n := o.nodes
	if n < 1 || n > maxDevNodes {
		return devCluster{}, fmt.Errorf("--%s must be between 1 and %d, got %d", flagNodes, maxDevNodes, n)
	}
	voters := o.voters
	if voters == 0 {
		voters = defaultDevVoters(n)
	}
	if voters < 1 || voters > n {
		return devCluster{}, fmt.Errorf("--%s must be between 1 and --%s (%d), got %d", flagVoters, flagNodes, n, voters)
	}
	if highest := o.basePort + devAdminPortOffset + n - 1; o.basePort < 1 || highest > 65535 {
		return devCluster{}, fmt.Errorf("--%s %d: %d nodes use ports %d to %d, which must lie within 1-65535",
			flagBasePort, o.basePort, n, o.basePort, highest)
	}
	if o.dataDir == "" {
		return devCluster{}, fmt.Errorf("--%s must not be empty", flagDataDir)
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return devCluster{}, err
	}
	settings, err := devSettings(n, o.sets)
	if err != nil {
		return devCluster{}, err
	}

	addr := func(port int) string { return net.JoinHostPort(devHost, strconv.Itoa(port)) }
	c := devCluster{Dir: o.dataDir, Voters: voters}
	var quorum []string
	for i := 1; i <= n; i++ {
		node := devNode{
			ID:    i,
			Dir:   filepath.Join(o.dataDir, "node-"+strconv.Itoa(i)),
			Kafka: addr(o.basePort + i - 1),
			Admin: addr(o.basePort + devAdminPortOffset + i - 1),
			Voter: i <= voters,
		}
		node.Log = filepath.Join(node.Dir, devLogFile)
		if node.Voter {
			node.Raft = addr(o.basePort + devRaftPortOffset + i - 1)
			quorum = append(quorum, fmt.Sprintf("%d@%s", i, node.Raft))
		}
		c.Nodes = append(c.Nodes, node)
	}
	for i := range c.Nodes {
		node := &c.Nodes[i]
		node.Args = []string{"serve",
			"--" + flagNodeID, strconv.Itoa(node.ID),
			"--" + flagDataDir, node.Dir,
			"--" + flagListen, node.Kafka,
			"--" + flagAdmin, node.Admin,
			"--" + flagControllerVoters, strings.Join(quorum, ","),
		}
		if node.Voter {
			node.Args = append(node.Args, "--"+flagControllerListen, node.Raft)
		}
		node.Args = append(node.Args, "--"+flagLogLevel, o.logLevel)
		for _, k := range slices.Sorted(maps.Keys(settings)) {
			node.Args = append(node.Args, "--"+flagSet, k+"="+settings[k])
		}
	}
	return c, nil
}

// devSettings returns the broker settings every node of an n-node dev
// cluster gets: replication defaults that fit n nodes, overridden and
// extended by the user's key=value list.
func devSettings(n int, sets []string) (map[string]string, error) {
	rf := strconv.Itoa(min(3, n))
	settings := map[string]string{
		"default.replication.factor":       rf,
		"offsets.topic.replication.factor": rf,
		"min.insync.replicas":              strconv.Itoa(min(2, n)),
	}
	user, err := parseKeyValues(sets)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagSet, err)
	}
	for _, k := range []string{"node.id", "broker.id"} {
		if _, ok := user[k]; ok {
			return nil, fmt.Errorf("--%s %s: every node gets its own id from its place in the cluster", flagSet, k)
		}
	}
	maps.Copy(settings, user)
	// Fail here, not in every node at once.
	if _, err := config.ParseBroker(settings); err != nil {
		return nil, fmt.Errorf("--%s: %w", flagSet, err)
	}
	return settings, nil
}

// bootstrap is the comma-separated list of every node's Kafka address.
func (c devCluster) bootstrap() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Kafka
	}
	return strings.Join(addrs, ",")
}

// voterIDs lists the voters' ids: "1,2,3".
func (c devCluster) voterIDs() string {
	ids := make([]string, c.Voters)
	for i := range ids {
		ids[i] = strconv.Itoa(c.Nodes[i].ID)
	}
	return strings.Join(ids, ",")
}

// line describes node n on one line; pid 0 leaves the pid out.
func (n devNode) line(pid int) string {
	raft := n.Raft
	if raft == "" {
		raft = "-"
	}
	s := fmt.Sprintf("node %d: kafka %s  raft %s  admin %s", n.ID, n.Kafka, raft, n.Admin)
	if pid != 0 {
		s += fmt.Sprintf("  pid %d", pid)
	}
	return s + "  log " + n.Log
}

// portBusyError says a port the cluster needs is taken.
type portBusyError struct {
	node int
	what string // kafka, raft or admin
	addr string
	err  error
}

func (e *portBusyError) Error() string {
	return fmt.Sprintf("node %d's %s port %s is not free (%v); choose other ports with --%s",
		e.node, e.what, e.addr, e.err, flagBasePort)
}

func (e *portBusyError) Unwrap() error { return e.err }

// checkPorts fails with a *portBusyError if any address the cluster will
// listen on cannot be bound now, so a clash is reported before any node
// starts rather than as a node's failure.
func (c devCluster) checkPorts() error {
	for _, n := range c.Nodes {
		for _, p := range []struct{ what, addr string }{{"kafka", n.Kafka}, {"raft", n.Raft}, {"admin", n.Admin}} {
			if p.addr == "" {
				continue
			}
			l, err := net.Listen("tcp", p.addr)
			if err != nil {
				return &portBusyError{node: n.ID, what: p.what, addr: p.addr, err: err}
			}
			l.Close()
		}
	}
	return nil
}

// prepare creates the nodes' directories and writes the cluster file, which
// says how to reach each node and how to start it again by hand.
func (c devCluster) prepare(bin string) error {
	for _, n := range c.Nodes {
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# A Strata dev cluster of %d nodes, written by `strata dev cluster` when it started.\n", len(c.Nodes))
	fmt.Fprintf(&b, "bootstrap servers: %s\n", c.bootstrap())
	fmt.Fprintf(&b, "controller voters: %s\n", c.voterIDs())
	for _, n := range c.Nodes {
		fmt.Fprintln(&b, n.line(0))
		fmt.Fprintf(&b, "  %s\n", shellJoin(append([]string{bin}, n.Args...)))
	}
	return os.WriteFile(filepath.Join(c.Dir, devClusterFile), b.Bytes(), 0o644)
}

// shellJoin quotes args for a POSIX shell where needed.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// devProc is a started node process.
type devProc struct {
	node devNode
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // from cmd.Wait; read only after done is closed
	// planned is set before the process is stopped on purpose (a restart,
	// the cluster's stop): its exit is then not sent on the exited channel.
	planned atomic.Bool
}

// status describes how p exited.
func (p *devProc) status() string {
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.String()
	}
	return p.err.Error()
}

// startDevNode starts node n with its output appended to its log file. Once
// the process has exited it is sent on exited, unless its stop was
// planned.
func startDevNode(bin string, n devNode, env []string, exited chan<- *devProc) (*devProc, error) {
	logFile, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child holds its own descriptor; ours is not needed after Start.
	defer logFile.Close()
	fmt.Fprintf(logFile, "--- strata dev cluster starts node %d at %s\n", n.ID, time.Now().Format(time.RFC3339))
	cmd := exec.Command(bin, n.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = env
	cmd.SysProcAttr = devProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %d: %w", n.ID, err)
	}
	p := &devProc{node: n, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		if !p.planned.Load() {
			exited <- p
		}
	}()
	return p, nil
}

// devChildEnv is env without STRATA_* variables: the nodes would read them
// as serve options (a STRATA_SET or STRATA_CONFIG meant for something
// else), and the cluster should be exactly what the flags say.
func devChildEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, envPrefix) })
}

// stopDevNodes sends SIGTERM to every node still running and waits for all
// of them, killing those still running after devStopTimeout. It returns an
// error naming each node it stopped that did not exit cleanly; nodes that
// had exited before are the caller's to report.
func stopDevNodes(procs []*devProc, timeout time.Duration) error {
	var running []*devProc
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			// Signal fails where there is no SIGTERM (Windows) or
			// once the process has gone; Kill covers the first.
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				p.cmd.Process.Kill()
			}
			running = append(running, p)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	late := false
	var errs []error
	for _, p := range running {
		if !late {
			select {
			case <-p.done:
			case <-timer.C:
				late = true
			}
		}
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("node %d did not stop within %s and was killed; its log is %s", p.node.ID, timeout, p.node.Log))
			continue
		}
		if p.err != nil {
			errs = append(errs, fmt.Errorf("node %d stopped with %s; its log is %s", p.node.ID, p.status(), p.node.Log))
		}
	}
	return errors.Join(errs...)
}

// logTail returns the last lines of the log at path, indented, for an
// error report.
func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")\n"
	}
	defer f.Close()
	const window = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		f.Seek(fi.Size()-window, io.SeekStart)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return "  (" + err.Error() + ")\n"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var b strings.Builder
	for _, l := range all[max(0, len(all)-lines):] {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// devNodeReady reports whether node n's /readyz answers 200.
func devNodeReady(ctx context.Context, hc *http.Client, n devNode) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Admin+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// runDevCluster starts the cluster c with the strata binary bin, reports
// it on stdout once every node is ready and runs until ctx is done, then
// stops every node. Until the cluster is ready, a node that exits or does
// not become ready fails the start: the others are stopped and the error
// names that node. Once it is ready, a node that exits is reported on
// stderr and the others keep running (a node killed on purpose shows
// failover); only when every node has exited does it return an error.
func runDevCluster(ctx context.Context, c devCluster, bin string, stdout, stderr io.Writer) error {
	if err := c.checkPorts(); err != nil {
		return err
	}
	if err := c.prepare(bin); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "starting %d nodes; data and logs in %s\n", len(c.Nodes), c.Dir)

	s := &devSupervisor{c: c, bin: bin, env: devChildEnv(os.Environ()), exited: make(chan *devProc, len(c.Nodes))}
	for _, n := range c.Nodes {
		p, err := startDevNode(bin, n, s.env, s.exited)
		if err != nil {
			return errors.Join(err, s.stopAll())
		}
		s.procs = append(s.procs, p)
	}
	stop := func() error {
		_, running := s.running()
		fmt.Fprintf(stderr, "stopping %d nodes\n", running)
		err := s.stopAll()
		if err == nil {
			fmt.Fprintln(stderr, "all nodes stopped")
		}
		return err
	}
	control, err := s.listenControl()
	if err != nil {
		return errors.Join(err, stop())
	}
	defer os.Remove(filepath.Join(c.Dir, devControlFile))
	ctlCtx, ctlCancel := context.WithCancel(ctx)
	defer ctlCancel()
	go s.serveControl(ctlCtx, control)

	// No keep-alive: a poll every 100 ms needs no pool, and nothing is left
	// open once the cluster is ready.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ready := make([]bool, len(c.Nodes))
	tick := time.NewTicker(devReadyPoll)
	defer tick.Stop()
	deadline := time.NewTimer(devReadyTimeout)
	defer deadline.Stop()
	tickC, deadlineC := tick.C, deadline.C
	for {
		if tickC != nil {
			all := true
			for i, n := range c.Nodes {
				if !ready[i] {
					ready[i] = devNodeReady(ctx, hc, n)
				}
				all = all && ready[i]
			}
			if all {
				tickC, deadlineC = nil, nil
				procs, _ := s.running()
				printDevReady(stdout, c, procs)
			}
		}
		select {
		case <-ctx.Done():
			return stop()
		case p := <-s.exited:
			if tickC != nil {
				fmt.Fprintf(stderr, "node %d exited unexpectedly (%s); the end of its log %s:\n%s",
					p.node.ID, p.status(), p.node.Log, logTail(p.node.Log, devLogTailLines))
				return errors.Join(
					fmt.Errorf("node %d exited unexpectedly (%s) before the cluster was ready; its log is %s", p.node.ID, p.status(), p.node.Log),
					stop())
			}
			running := reportDevExit(stderr, c, p, s)
			if running == 0 {
				return fmt.Errorf("every node has exited, the last node %d (%s); logs are in %s/node-N/%s",
					p.node.ID, p.status(), c.Dir, devLogFile)
			}
		case <-deadlineC:
			var late []string
			for i, n := range c.Nodes {
				if !ready[i] {
					late = append(late, strconv.Itoa(n.ID))
					fmt.Fprintf(stderr, "node %d is not ready after %s; the end of its log %s:\n%s",
						n.ID, devReadyTimeout, n.Log, logTail(n.Log, devLogTailLines))
				}
			}
			what := "node " + late[0]
			if len(late) > 1 {
				what = "nodes " + strings.Join(late, ", ")
			}
			return errors.Join(
				fmt.Errorf("%s did not become ready within %s; logs are in %s/node-N/%s",
					what, devReadyTimeout, c.Dir, devLogFile),
				stop())
		case <-tickC:
		}
	}
}

// reportDevExit tells the user that node p of a ready cluster has exited
// and how many nodes still run, which it returns. The end of the node's log
// is shown when the node exited by itself, not by a signal such as a kill
// on purpose.
func reportDevExit(w io.Writer, c devCluster, p *devProc, s *devSupervisor) int {
	_, running := s.running()
	fmt.Fprintf(w, "node %d exited (%s); its log is %s\n", p.node.ID, p.status(), p.node.Log)
	if ps := p.cmd.ProcessState; ps == nil || ps.Exited() {
		fmt.Fprintf(w, "the end of its log:\n%s", logTail(p.node.Log, devLogTailLines))
	}
	if running > 0 {
		fmt.Fprintf(w, "%d of %d nodes still running; %s has the command that starts node %d again\n",
			running, len(c.Nodes), filepath.Join(c.Dir, devClusterFile), p.node.ID)
	}
	return running
}

// printDevReady tells the user the cluster is up and how to reach it.
func printDevReady(w io.Writer, c devCluster, procs []*devProc) {
	nodes := "nodes"
	if len(c.Nodes) == 1 {
		nodes = "node"
	}
	fmt.Fprintf(w, "Strata cluster of %d %s is ready (voters %s).\n", len(c.Nodes), nodes, c.voterIDs())
	fmt.Fprintf(w, "bootstrap servers: %s\n", c.bootstrap())
	for _, p := range procs {
		fmt.Fprintln(w, p.node.line(p.cmd.Process.Pid))
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Tools for developing against Strata on one machine",
		Long: `Tools for developing against Strata on one machine: "strata dev cluster"
runs a multi-node cluster on 127.0.0.1, one process per node; "strata dev
certs" makes the certificates to try TLS with.`,
		Example: `  strata dev cluster
  strata dev certs ./certs`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newDevClusterCommand(), newDevCertsCommand())
	return cmd
}

func newDevClusterCommand() *cobra.Command {
	o := devClusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local N-node cluster, one strata serve process per node",
		Long: `Run a cluster of --nodes nodes on 127.0.0.1, one "strata serve" process
per node, until Ctrl-C (SIGINT or SIGTERM), which stops every node.

Node i (from 1) keeps its data in DATA_DIR/node-i and writes its log to
DATA_DIR/node-i/strata.log. It listens on
  Kafka  127.0.0.1:(base+i-1)      9092, 9093, ... by default
  Raft   127.0.0.1:(base+101+i-1)  9193, ...  (controller voters only)
  admin  127.0.0.1:(base+552+i-1)  9644, ...  (/metrics, /healthz, /readyz)
where base is --base-port. The first --voters nodes are the controller voters.
DATA_DIR/cluster.txt lists the nodes, their addresses, logs and the command
that starts each by hand.

Every node gets default.replication.factor and offsets.topic.replication.factor
of min(3, nodes) and min.insync.replicas of min(2, nodes); --set overrides
these and adds other broker settings (Kafka's names). The nodes do not read
STRATA_* environment variables, so the cluster is what these flags say.

Once every node answers /readyz, the bootstrap servers are printed. A node
that exits before then fails the start: the others are stopped and the command
fails, naming the node and its log. Once the cluster is ready, a node that
exits (killed to watch a failover, or crashed) is reported with its exit
status and log, and the others keep running; DATA_DIR/cluster.txt has the
command that starts it again. The command fails only when every node has
exited.

"strata dev cluster restart --rolling", run from another terminal, restarts
the running cluster's nodes one at a time (see its help).`,
		Example: `  strata dev cluster
  strata dev cluster --nodes 5 --data-dir /tmp/strata-cluster
  strata dev cluster --base-port 19092 --set auto.create.topics.enable=false
  strata dev cluster restart --rolling`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := o
			if opts.dataDir != "" {
				abs, err := filepath.Abs(opts.dataDir)
				if err != nil {
					return err
				}
				opts.dataDir = abs
			}
			c, err := planDevCluster(opts)
			if err != nil {
				return err
			}
			bin := opts.binary
			if bin == "" {
				if bin, err = os.Executable(); err != nil {
					return fmt.Errorf("find the strata binary to run: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDevCluster(ctx, c, bin, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, flagNodes, defaultDevNodes, "number of nodes")
	f.StringVar(&o.dataDir, flagDataDir, defaultDevDataDir, "directory holding every node's data and log")
	f.IntVar(&o.basePort, flagBasePort, defaultDevBasePort, "Kafka port of node 1; the Raft and admin ports move with it")
	f.IntVar(&o.voters, flagVoters, 0, "how many nodes (the first by id) are controller voters (default 1 for 1-2 nodes, 3 for 3-4, 5 for more)")
	f.StringArrayVar(&o.sets, flagSet, nil, "broker setting for every node by its Kafka name, key=value; repeatable")
	f.StringVar(&o.logLevel, flagLogLevel, defaultLogLevel, "log level of the nodes: debug, info, warn or error")
	// Tests run the command from a test binary, which is not strata.
	f.StringVar(&o.binary, flagStrataBinary, "", "the strata binary to run for each node (default: this one)")
	f.Lookup(flagStrataBinary).Hidden = true
	cmd.AddCommand(newDevClusterRestartCommand())
	return cmd
}
