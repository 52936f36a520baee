package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// devOpts returns the command's default options with dir as data dir.
func devOpts(dir string, change func(*devClusterOptions)) devClusterOptions {
	o := devClusterOptions{nodes: defaultDevNodes, dataDir: dir, basePort: defaultDevBasePort, logLevel: defaultLogLevel}
	if change != nil {
		change(&o)
	}
	return o
}

func TestPlanDevCluster(t *testing.T) {
	dir := filepath.Join("data", "c")
	tests := []struct {
		name       string
		opts       devClusterOptions
		wantVoters int
		wantKafka  []string
		wantRaft   []string // "" for a node that is not a voter
		wantAdmin  []string
		wantSets   []string
	}{
		{
			name:       "defaults",
			opts:       devOpts(dir, nil),
			wantVoters: 3,
			wantKafka:  []string{"127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"},
			wantRaft:   []string{"127.0.0.1:9193", "127.0.0.1:9194", "127.0.0.1:9195"},
			wantAdmin:  []string{"127.0.0.1:9644", "127.0.0.1:9645", "127.0.0.1:9646"},
			wantSets:   []string{"default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3"},
		},
		{
			name:       "one node",
			opts:       devOpts(dir, func(o *devClusterOptions) { o.nodes = 1 }),
			wantVoters: 1,
			wantKafka:  []string{"127.0.0.1:9092"},
			wantRaft:   []string{"127.0.0.1:9193"},
			wantAdmin:  []string{"127.0.0.1:9644"},
			wantSets:   []string{"default.replication.factor=1", "min.insync.replicas=1", "offsets.topic.replication.factor=1"},
		},
		{
			name:       "two nodes have one voter",
			opts:       devOpts(dir, func(o *devClusterOptions) { o.nodes = 2 }),
			wantVoters: 1,
			wantKafka:  []string{"127.0.0.1:9092", "127.0.0.1:9093"},
			wantRaft:   []string{"127.0.0.1:9193", ""},
			wantAdmin:  []string{"127.0.0.1:9644", "127.0.0.1:9645"},
			wantSets:   []string{"default.replication.factor=2", "min.insync.replicas=2", "offsets.topic.replication.factor=2"},
		},
		{
			name:       "four nodes have three voters",
			opts:       devOpts(dir, func(o *devClusterOptions) { o.nodes = 4 }),
			wantVoters: 3,
			wantKafka:  []string{"127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094", "127.0.0.1:9095"},
			wantRaft:   []string{"127.0.0.1:9193", "127.0.0.1:9194", "127.0.0.1:9195", ""},
			wantAdmin:  []string{"127.0.0.1:9644", "127.0.0.1:9645", "127.0.0.1:9646", "127.0.0.1:9647"},
			wantSets:   []string{"default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3"},
		},
		{
			name:       "six nodes have five voters",
			opts:       devOpts(dir, func(o *devClusterOptions) { o.nodes = 6 }),
			wantVoters: 5,
			wantKafka: []string{"127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094", "127.0.0.1:9095",
				"127.0.0.1:9096", "127.0.0.1:9097"},
			wantRaft: []string{"127.0.0.1:9193", "127.0.0.1:9194", "127.0.0.1:9195", "127.0.0.1:9196",
				"127.0.0.1:9197", ""},
			wantAdmin: []string{"127.0.0.1:9644", "127.0.0.1:9645", "127.0.0.1:9646", "127.0.0.1:9647",
				"127.0.0.1:9648", "127.0.0.1:9649"},
			wantSets: []string{"default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3"},
		},
		{
			name: "base port moves every listener; explicit voters",
			opts: devOpts(dir, func(o *devClusterOptions) {
				o.basePort, o.voters = 19092, 1
			}),
			wantVoters: 1,
			wantKafka:  []string{"127.0.0.1:19092", "127.0.0.1:19093", "127.0.0.1:19094"},
			wantRaft:   []string{"127.0.0.1:19193", "", ""},
			wantAdmin:  []string{"127.0.0.1:19644", "127.0.0.1:19645", "127.0.0.1:19646"},
			wantSets:   []string{"default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3"},
		},
		{
			name: "user settings win and add",
			opts: devOpts(dir, func(o *devClusterOptions) {
				o.nodes = 2
				o.sets = []string{"min.insync.replicas=1", "auto.create.topics.enable=false", "log.cleanup.policy=compact,delete"}
			}),
			wantVoters: 1,
			wantKafka:  []string{"127.0.0.1:9092", "127.0.0.1:9093"},
			wantRaft:   []string{"127.0.0.1:9193", ""},
			wantAdmin:  []string{"127.0.0.1:9644", "127.0.0.1:9645"},
			wantSets: []string{"auto.create.topics.enable=false", "default.replication.factor=2", "log.cleanup.policy=compact,delete",
				"min.insync.replicas=1", "offsets.topic.replication.factor=2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := planDevCluster(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Voters != tt.wantVoters || len(c.Nodes) != len(tt.wantKafka) {
				t.Fatalf("got %d nodes, %d voters; want %d, %d", len(c.Nodes), c.Voters, len(tt.wantKafka), tt.wantVoters)
			}
			if got, want := c.bootstrap(), strings.Join(tt.wantKafka, ","); got != want {
				t.Errorf("got bootstrap %s, want %s", got, want)
			}
			var quorum []string
			for i, r := range tt.wantRaft {
				if r != "" {
					quorum = append(quorum, strconv.Itoa(i+1)+"@"+r)
				}
			}
			for i, n := range c.Nodes {
				id := strconv.Itoa(i + 1)
				nodeDir := filepath.Join(dir, "node-"+id)
				if n.ID != i+1 || n.Kafka != tt.wantKafka[i] || n.Raft != tt.wantRaft[i] || n.Admin != tt.wantAdmin[i] ||
					n.Voter != (tt.wantRaft[i] != "") || n.Dir != nodeDir || n.Log != filepath.Join(nodeDir, "strata.log") {
					t.Errorf("node %d: got %+v", i+1, n)
				}
				want := []string{"serve", "--node-id", id, "--data-dir", nodeDir, "--listen", tt.wantKafka[i],
					"--admin", tt.wantAdmin[i], "--controller-voters", strings.Join(quorum, ",")}
				if tt.wantRaft[i] != "" {
					want = append(want, "--controller-listen", tt.wantRaft[i])
				}
				want = append(want, "--log-level", "info")
				for _, s := range tt.wantSets {
					want = append(want, "--set", s)
				}
				if !slices.Equal(n.Args, want) {
					t.Errorf("node %d: got args\n%q\nwant\n%q", i+1, n.Args, want)
				}
			}
		})
	}
}

func TestPlanDevClusterErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*devClusterOptions)
		wantErr string
	}{
		{"no nodes", func(o *devClusterOptions) { o.nodes = 0 }, "--nodes must be between 1 and 101, got 0"},
		{"too many nodes", func(o *devClusterOptions) { o.nodes = 102 }, "--nodes must be between 1 and 101, got 102"},
		{"more voters than nodes", func(o *devClusterOptions) { o.voters = 4 }, "--voters must be between 1 and --nodes (3), got 4"},
		{"negative voters", func(o *devClusterOptions) { o.voters = -1 }, "--voters must be between 1 and --nodes (3), got -1"},
		{"base port too high", func(o *devClusterOptions) { o.basePort = 65000 }, "--base-port 65000: 3 nodes use ports 65000 to 65554"},
		{"base port zero", func(o *devClusterOptions) { o.basePort = 0 }, "--base-port 0"},
		{"empty data dir", func(o *devClusterOptions) { o.dataDir = "" }, "--data-dir must not be empty"},
		{"bad log level", func(o *devClusterOptions) { o.logLevel = "loud" }, `log level "loud"`},
		{"set without =", func(o *devClusterOptions) { o.sets = []string{"retention"} }, `--set: "retention" is not key=value`},
		{"unknown setting", func(o *devClusterOptions) { o.sets = []string{"no.such.setting=1"} }, "Unknown broker setting: no.such.setting"},
		{"bad value", func(o *devClusterOptions) { o.sets = []string{"num.partitions=many"} }, "num.partitions"},
		{"node id", func(o *devClusterOptions) { o.sets = []string{"node.id=4"} }, "--set node.id: every node gets its own id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planDevCluster(devOpts("data", tt.change))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDevChildEnv(t *testing.T) {
	env := []string{"HOME=/home/x", "STRATA_SET=num.partitions=9", "PATH=/bin", "STRATA_CONFIG=/etc/s.yaml", "MY_STRATA=1"}
	got := devChildEnv(env)
	if want := []string{"HOME=/home/x", "PATH=/bin", "MY_STRATA=1"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(env) != 5 || env[1] != "STRATA_SET=num.partitions=9" {
		t.Errorf("the input was changed: %q", env)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"/opt/strata", "serve", "--data-dir", "/tmp/my data", "--set", "a=it's", ""})
	want := `/opt/strata serve --data-dir '/tmp/my data' --set 'a=it'\''s' ''`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestDevClusterPortBusy checks that a taken port stops the command before
// it creates anything, with a message naming the port and --base-port.
func TestDevClusterPortBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if port+devAdminPortOffset > 65535 {
		t.Skipf("port %d leaves no room for the admin port", port)
	}
	dir := filepath.Join(t.TempDir(), "c")
	_, _, err = execute(t, noEnv, nil, "", "dev", "cluster", "--nodes", "1", "--data-dir", dir,
		"--base-port", strconv.Itoa(port), "--strata-binary", filepath.Join(dir, "not-started"))
	var busy *portBusyError
	if !errors.As(err, &busy) {
		t.Fatalf("got error %v, want a *portBusyError", err)
	}
	for _, want := range []string{"kafka port 127.0.0.1:" + strconv.Itoa(port), "--base-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir: got %v, want it not created", err)
	}
}

// TestDevClusterNodeExitsBeforeReady checks that a node that exits before
// the cluster is ready fails the start, and the others are stopped.
func TestDevClusterNodeExitsBeforeReady(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	// A stand-in for strata: node 2 fails at once, the others wait to be
	// stopped.
	bin := filepath.Join(dir, "fake-strata")
	script := "#!/bin/sh\ncase \"$*\" in *'--node-id 2 '*) echo 'bad setting'; exit 3;; esac\nexec sleep 60\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		base := 20000 + rand.IntN(12000)
		_, stderr, err := execute(t, noEnv, nil, "", "dev", "cluster", "--nodes", "3", "--strata-binary", bin,
			"--data-dir", filepath.Join(dir, "c"+strconv.Itoa(attempt)), "--base-port", strconv.Itoa(base))
		var busy *portBusyError
		if errors.As(err, &busy) && attempt < 5 {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "node 2 exited unexpectedly (exit status 3) before the cluster was ready") {
			t.Fatalf("got error %v, want node 2's exit to fail the start\nstderr:\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "bad setting") || !strings.Contains(stderr, "stopping 2 nodes") {
			t.Errorf("got stderr %q, want node 2's log and the others stopped", stderr)
		}
		return
	}
}

// TestStopDevNodesKillsLateNodes checks that a node ignoring SIGTERM is
// killed once the stop timeout has passed, and reported.
func TestStopDevNodesKillsLateNodes(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	n := devNode{ID: 4, Dir: dir, Log: filepath.Join(dir, "strata.log"),
		Args: []string{"-c", "trap '' TERM; echo trapped; exec sleep 60"}}
	exited := make(chan *devProc, 1)
	p, err := startDevNode(sh, n, nil, exited)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	// The shell must ignore SIGTERM before it gets one.
	waitFor(t, "the shell sets its trap", func() (bool, string) {
		data, err := os.ReadFile(n.Log)
		return strings.Contains(string(data), "trapped"), string(data) + errString(err)
	})
	err = stopDevNodes([]*devProc{p}, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "node 4 did not stop within 100ms and was killed") {
		t.Fatalf("got error %v, want node 4 reported as killed", err)
	}
	if got := <-exited; got != p {
		t.Errorf("got exit of %+v, want node 4", got.node)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// buildStrataBinary returns the strata binary, built once per test binary
// run and shared with the multi-process tests (cluster.Build).
func buildStrataBinary(t *testing.T) string {
	t.Helper()
	return cluster.Build(t)
}

// devClusterRun is `strata dev cluster` running in-process.
type devClusterRun struct {
	cancel         context.CancelFunc
	done           chan error
	stdout, stderr syncBuffer
	dir            string         // the cluster's --data-dir
	kafka          map[int]string // node id to Kafka address, from the ready report
	pids           map[int]int    // node id to process id
}

var devReadyNode = regexp.MustCompile(`(?m)^node (\d+): kafka (\S+) .* pid (\d+) `)

// startDevCluster runs `strata dev cluster args...` with bin as the node
// binary on a random base port, trying another when a port is taken, and
// returns once it reports the cluster ready. t.Cleanup stops it.
func startDevCluster(t *testing.T, bin string, args ...string) *devClusterRun {
	t.Helper()
	for attempt := 1; ; attempt++ {
		// Below Linux's ephemeral range (32768 up), so outgoing
		// connections do not take the ports between check and bind.
		base := 20000 + rand.IntN(12000)
		ctx, cancel := context.WithCancel(context.Background())
		r := &devClusterRun{cancel: cancel, done: make(chan error, 1), dir: filepath.Join(t.TempDir(), "cluster")}
		cmd := newRootCommand(noEnv, nil)
		cmd.SetArgs(append([]string{"dev", "cluster", "--strata-binary", bin,
			"--data-dir", r.dir, "--base-port", strconv.Itoa(base)}, args...))
		cmd.SetOut(&r.stdout)
		cmd.SetErr(&r.stderr)
		go func() { r.done <- cmd.ExecuteContext(ctx) }()
		t.Cleanup(func() {
			if r.done != nil {
				r.stop(t)
			}
		})

		var err error
		finished := false
		waitFor(t, "the cluster reports it is ready", func() (bool, string) {
			select {
			case err = <-r.done:
				finished = true
				return true, ""
			default:
			}
			return strings.Contains(r.stdout.String(), "Press Ctrl-C to stop."), r.stderr.String()
		})
		if finished {
			r.done = nil
			cancel()
			var busy *portBusyError
			if errors.As(err, &busy) && attempt < 5 {
				t.Logf("attempt %d: %v", attempt, err)
				continue
			}
			t.Fatalf("dev cluster stopped before it was ready: %v\nstderr:\n%s", err, r.stderr.String())
		}
		if !strings.Contains(r.stdout.String(), "is ready") {
			t.Fatalf("got stdout %q, want the ready report", r.stdout.String())
		}
		r.kafka, r.pids = map[int]string{}, map[int]int{}
		for _, m := range devReadyNode.FindAllStringSubmatch(r.stdout.String(), -1) {
			id, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[3])
			r.kafka[id], r.pids[id] = m[2], pid
		}
		return r
	}
}

// wait returns the command's error once it has returned.
func (r *devClusterRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done = nil
		return err
	case <-time.After(2 * devStopTimeout):
		t.Fatalf("dev cluster did not return within %s\nstderr:\n%s", 2*devStopTimeout, r.stderr.String())
		return nil
	}
}

// stop cancels the command, as Ctrl-C does, and returns its error.
func (r *devClusterRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// checkExited fails the test for every node process still running.
func (r *devClusterRun) checkExited(t *testing.T) {
	t.Helper()
	for id, pid := range r.pids {
		p, err := os.FindProcess(pid)
		if err != nil {
			continue
		}
		if err := p.Signal(syscall.Signal(0)); err == nil {
			t.Errorf("node %d (pid %d) is still running", id, pid)
			p.Kill()
		}
	}
}

// TestDevCluster runs the command for real: three strata processes from a
// freshly built binary.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds strata and runs a cluster of processes")
	}
	bin := buildStrataBinary(t)

	t.Run("ctrl-c stops every node", func(t *testing.T) {
		r := startDevCluster(t, bin, "--nodes", "3")
		if len(r.kafka) != 3 {
			t.Fatalf("got nodes %v in the ready report, want 3:\n%s", r.kafka, r.stdout.String())
		}
		for id, addr := range r.kafka {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			adm := kadm.NewClient(cl)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			meta, err := adm.Metadata(ctx)
			cancel()
			adm.Close()
			if err != nil {
				t.Fatalf("node %d at %s: metadata: %v", id, addr, err)
			}
			if ids := meta.Brokers.NodeIDs(); !slices.Contains(ids, int32(id)) {
				t.Errorf("node %d at %s: got brokers %v, want it among them", id, addr, ids)
			}
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("got error %v, want nil\nstderr:\n%s", err, r.stderr.String())
		}
		r.checkExited(t)
		if !strings.Contains(r.stderr.String(), "all nodes stopped") {
			t.Errorf("got stderr %q, want it to say all nodes stopped", r.stderr.String())
		}
	})

	t.Run("a node that dies is reported and the others keep running", func(t *testing.T) {
		r := startDevCluster(t, bin, "--nodes", "3")
		r.kill(t, 2)
		waitFor(t, "the exit of node 2 is reported", func() (bool, string) {
			errOut := r.stderr.String()
			return strings.Contains(errOut, "node 2 exited (signal: killed); its log is ") &&
				strings.Contains(errOut, filepath.Join("node-2", "strata.log")) &&
				strings.Contains(errOut, "2 of 3 nodes still running"), errOut
		})
		select {
		case err := <-r.done:
			r.done = nil
			t.Fatalf("dev cluster returned %v after one node died, want it to keep running\nstderr:\n%s", err, r.stderr.String())
		default:
		}
		for _, id := range []int{1, 3} {
			if !r.running(id) {
				t.Errorf("node %d is not running after node 2 died", id)
			}
		}
		// The two left are a quorum of the three voters: the cluster
		// still serves, and fences the dead node.
		cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafka[1], r.kafka[3]))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		waitFor(t, "the live brokers without node 2", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			meta, err := adm.Metadata(ctx)
			if err != nil {
				return false, err.Error()
			}
			ids := meta.Brokers.NodeIDs()
			slices.Sort(ids)
			return slices.Equal(ids, []int32{1, 3}), fmt.Sprint(ids)
		})
		if err := r.stop(t); err != nil {
			t.Fatalf("Ctrl-C: got error %v, want nil\nstderr:\n%s", err, r.stderr.String())
		}
		r.checkExited(t)
		if !strings.Contains(r.stderr.String(), "stopping 2 nodes") || !strings.Contains(r.stderr.String(), "all nodes stopped") {
			t.Errorf("got stderr %q, want it to say 2 nodes were stopped", r.stderr.String())
		}
	})

	t.Run("a rolling restart under acks=all load costs the producer nothing", func(t *testing.T) {
		r := startDevCluster(t, bin, "--nodes", "3")
		const topic, parts = "rolling", 3
		cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafka[1], r.kafka[2], r.kafka[3]), kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 3, nil, topic)
		cancel()
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatalf("create topic: %v", err)
		}
		ledger := cluster.NewLedger()
		var errs atomic.Int64
		pctx, stopProducing := context.WithCancel(context.Background())
		var produced sync.WaitGroup
		produced.Go(func() {
			for i := 0; pctx.Err() == nil; i++ {
				v := []byte(fmt.Sprintf("r-%08d", i))
				ledger.Attempted(v)
				produced.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Value: v}, func(rec *kgo.Record, err error) {
					defer produced.Done()
					ledger.Promise(rec, err)
					if err != nil {
						errs.Add(1)
					}
				})
			}
		})

		var out syncBuffer
		cmd := newRootCommand(noEnv, nil)
		cmd.SetArgs([]string{"dev", "cluster", "restart", "--rolling", "--data-dir", r.dir})
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		rerr := cmd.Execute()
		stopProducing()
		produced.Wait()
		if rerr != nil {
			t.Fatalf("restart --rolling: %v\noutput:\n%s\ncluster stderr:\n%s", rerr, out.String(), r.stderr.String())
		}
		for id := 1; id <= 3; id++ {
			if want := fmt.Sprintf("node %d: restarted in ", id); !strings.Contains(out.String(), want) {
				t.Errorf("got output %q, want %q", out.String(), want)
			}
		}
		if !strings.Contains(out.String(), "led by their preferred replica again") {
			t.Errorf("got output %q, want the preferred leader election reported", out.String())
		}
		// Asked of every node, not of cl's cached metadata: kadm's
		// Metadata answers from the client's cache while it is younger
		// than MetadataMinAge (5s), so it may predate the election. The
		// node that answered ElectLeaders had applied it; the others
		// apply it shortly after.
		for id := range r.kafka {
			waitFor(t, fmt.Sprintf("node %d: every partition of %s led by its preferred replica", id, topic), func() (bool, string) {
				return preferredLeaders(cl.Broker(id), topic)
			})
		}
		if strings.Contains(r.stderr.String(), "exited") {
			t.Errorf("the cluster reported planned stops as exits:\n%s", r.stderr.String())
		}
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, cl, topic, parts))
		if n := errs.Load(); n != 0 {
			t.Errorf("the producer saw %d errors during the rolling restart", n)
		}
		t.Logf("%d records acknowledged during a rolling restart:\n%s", ledger.NumAcked(), out.String())
		if err := r.stop(t); err != nil {
			t.Fatalf("Ctrl-C after the restart: %v\nstderr:\n%s", err, r.stderr.String())
		}
		if _, err := os.Stat(filepath.Join(r.dir, devControlFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the control file is left after the cluster stopped: %v", err)
		}
		err = requestDevRestart(context.Background(), r.dir, true, 0, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no dev cluster is running") {
			t.Errorf("restart of a stopped cluster: got %v, want it to say none is running", err)
		}
	})

	t.Run("the command fails when every node has exited", func(t *testing.T) {
		r := startDevCluster(t, bin, "--nodes", "2")
		r.kill(t, 1)
		waitFor(t, "the exit of node 1 is reported", func() (bool, string) {
			return strings.Contains(r.stderr.String(), "1 of 2 nodes still running"), r.stderr.String()
		})
		r.kill(t, 2)
		err := r.wait(t)
		if err == nil || !strings.Contains(err.Error(), "every node has exited, the last node 2 (signal: killed)") {
			t.Fatalf("got error %v, want every node reported exited\nstderr:\n%s", err, r.stderr.String())
		}
		r.checkExited(t)
	})
}

// preferredLeaders reports whether broker b, asked directly, has every
// partition of topic led by its preferred replica, and what it has.
func preferredLeaders(b *kgo.Broker, topic string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, b)
	if err != nil {
		return false, err.Error()
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		return false, fmt.Sprintf("no partitions of %s in %+v", topic, resp.Topics)
	}
	ok := true
	var got []string
	for _, p := range resp.Topics[0].Partitions {
		got = append(got, fmt.Sprintf("partition %d led by %d, replicas %v", p.Partition, p.Leader, p.Replicas))
		ok = ok && len(p.Replicas) > 0 && p.Leader == p.Replicas[0]
	}
	return ok, strings.Join(got, "; ")
}

// kill sends SIGKILL to node id.
func (r *devClusterRun) kill(t *testing.T, id int) {
	t.Helper()
	p, err := os.FindProcess(r.pids[id])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("kill node %d: %v", id, err)
	}
}

// running reports whether node id's process is still running.
func (r *devClusterRun) running(id int) bool {
	p, err := os.FindProcess(r.pids[id])
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}
