package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the harness itself; tests choose their own for readiness.
const (
	// startTimeout bounds one Start or Restart of a node, including the
	// retries after "address already in use".
	startTimeout = 30 * time.Second
	// stopTimeout is how long Stop waits for a clean exit after SIGTERM.
	stopTimeout = 15 * time.Second
	// pauseTimeout is how long Pause waits for every thread to stop.
	pauseTimeout = 5 * time.Second
	// pollInterval is how often the harness polls a condition.
	pollInterval = 20 * time.Millisecond
)

// Node is one `strata serve` process of a Cluster. Its ports and data
// directory stay the same across restarts. Methods are safe for concurrent
// use, but those that may fail the test call t.Fatal: call them from the
// test goroutine.
type Node struct {
	id      int32
	t       testing.TB
	bin     string
	args    []string
	dataDir string
	logPath string
	kafka   string
	// listeners are the addresses of Options.Listeners by name.
	listeners map[string]string
	admin     string
	raft      string // "" for a node that is not a controller voter
	ports     []int  // every port the node binds, to wait for them after EADDRINUSE
	http      *http.Client

	mu   sync.Mutex
	proc *process // the latest process; nil before the first start
}

// process is one run of the node's command.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed once Wait has returned
	err    error         // Wait's result, set before done is closed
	paused bool          // SIGSTOPped and not yet SIGCONTed; guarded by Node.mu
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ID returns the node's id (1-based).
func (n *Node) ID() int32 { return n.id }

// KafkaAddr returns the host:port of the node's Kafka listener.
func (n *Node) KafkaAddr() string { return n.kafka }

// ListenerAddr returns the host:port of the node's listener of that name
// (one of Options.Listeners), or "" for none.
func (n *Node) ListenerAddr(name string) string { return n.listeners[name] }

// AdminAddr returns the host:port of the node's admin HTTP listener.
func (n *Node) AdminAddr() string { return n.admin }

// ControllerAddr returns the host:port of the node's Raft listener, or ""
// if the node is not a controller voter.
func (n *Node) ControllerAddr() string { return n.raft }

// DataDir returns the node's data directory.
func (n *Node) DataDir() string { return n.dataDir }

// Running reports whether the node's process has been started and has not
// exited. A paused node is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Kill sends SIGKILL and waits for the process to exit. Killing a node that
// is not running does nothing.
func (n *Node) Kill() {
	n.t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Fatalf("node %d: kill: %v", n.id, err)
	}
	<-p.done
}

// Stop sends SIGTERM and waits for the process to exit; if it has not
// exited within 15s it is killed and the test fails. A paused node is
// resumed so it can handle the signal.
func (n *Node) Stop() {
	n.t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Fatalf("node %d: SIGTERM: %v", n.id, err)
	}
	n.mu.Lock()
	if p.paused {
		// SIGTERM stays pending while the process is stopped.
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.paused = false
	}
	n.mu.Unlock()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			n.t.Errorf("node %d exited with %v after SIGTERM", n.id, p.err)
		}
	case <-timer.C:
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		n.t.Fatalf("node %d did not exit within %v of SIGTERM; killed it", n.id, stopTimeout)
	}
}

// Pause stops the process with SIGSTOP and waits until all its threads
// have stopped: it keeps its sockets open but answers nothing, like a node
// in a long GC pause or stuck on a hung disk.
func (n *Node) Pause() {
	n.t.Helper()
	p := n.signal(syscall.SIGSTOP, true)
	deadline := time.Now().Add(pauseTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		stopped, err := allStopped(p.cmd.Process.Pid)
		if err != nil && !p.exited() {
			n.t.Fatalf("node %d: pause: %v", n.id, err)
		}
		if stopped || p.exited() {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node %d: not stopped %v after SIGSTOP", n.id, pauseTimeout)
		}
		<-tick.C
	}
}

// Resume continues a paused process with SIGCONT (which takes effect
// before kill(2) returns).
func (n *Node) Resume() {
	n.t.Helper()
	n.signal(syscall.SIGCONT, false)
}

// signal sends SIGSTOP or SIGCONT to the running process and records
// whether it is paused.
func (n *Node) signal(sig syscall.Signal, paused bool) *process {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.exited() {
		n.t.Fatalf("node %d: %v: not running", n.id, sig)
	}
	if err := n.proc.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("node %d: %v: %v", n.id, sig, err)
	}
	n.proc.paused = paused
	return n.proc
}

// Restart starts the node's command again, with the same ports and data
// directory, after it has exited (Kill or Stop first). It returns once the
// process has bound its listeners; use WaitReady to wait until it serves.
func (n *Node) Restart() {
	n.t.Helper()
	if n.Running() {
		n.t.Fatalf("node %d: restart: still running; Kill or Stop it first", n.id)
	}
	if err := n.start(); err != nil {
		n.t.Fatalf("node %d: restart: %v", n.id, err)
	}
}

// WaitReady polls GET /readyz on the node's admin listener until it answers
// 200 OK, failing the test after timeout or if the process exits.
func (n *Node) WaitReady(timeout time.Duration) {
	n.t.Helper()
	if err := n.waitReady(time.Now().Add(timeout)); err != nil {
		n.t.Fatalf("node %d: %v", n.id, err)
	}
}

func (n *Node) waitReady(deadline time.Time) error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return errors.New("never started")
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if p.exited() {
			return fmt.Errorf("exited (%v) before it was ready", p.err)
		}
		if code, err := n.get("/readyz"); err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("not ready before the deadline (GET /readyz)")
		}
		<-tick.C
	}
}

// LogTail returns the last n lines the node has written to its log, across
// restarts.
func (n *Node) LogTail(lines int) string {
	data, err := os.ReadFile(n.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(data), lines)
}

// lastLines returns the last n lines of s, without a trailing newline.
func lastLines(s string, n int) string {
	if n <= 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// get issues GET path on the admin listener and returns the status code.
func (n *Node) get(path string) (int, error) {
	resp, err := n.http.Get("http://" + n.admin + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Metric scrapes the node's /metrics for the unlabelled metric name; ok is
// false when the node does not answer or has no such metric.
func (n *Node) Metric(name string) (v float64, ok bool) {
	resp, err := n.http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(body), "\n") {
		if s, found := strings.CutPrefix(line, name+" "); found {
			v, err := strconv.ParseFloat(s, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// start runs the node's command and returns once its listeners are bound:
// when GET /healthz answers, which the node serves only after binding its
// Kafka and admin listeners. A port taken by someone else makes the
// process exit with "address already in use"; then start waits until the
// node's ports are free again and retries, until startTimeout.
func (n *Node) start() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for attempt := 1; ; attempt++ {
		logStart, p, err := n.spawn(attempt)
		if err != nil {
			return err
		}
		for !p.exited() && time.Now().Before(deadline) {
			if _, err := n.get("/healthz"); err == nil {
				return nil
			}
			select {
			case <-p.done:
			case <-tick.C:
			}
		}
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			return fmt.Errorf("did not bind its listeners within %v", startTimeout)
		}
		if !bytes.Contains(n.logSince(logStart), []byte("address already in use")) {
			return fmt.Errorf("exited during startup: %v", p.err)
		}
		// Another process holds one of our ports; wait for it to go.
		for {
			err := portsFree(n.ports)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("after %d attempts, a port is still taken: %v", attempt, err)
			}
			<-tick.C
		}
	}
}

// spawn starts one process of the node's command with its output appended
// to the node's log, and returns the log's size before the start.
func (n *Node) spawn(attempt int) (int64, *process, error) {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close() // the child has its own copy of the descriptor
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	fmt.Fprintf(f, "=== harness: %s start of node %d (attempt %d)\n", time.Now().Format(time.RFC3339Nano), n.id, attempt)
	cmd := exec.Command(n.bin, n.args...)
	cmd.Env = childEnv()
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", n.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return fi.Size(), p, nil
}

// logSince returns what the node logged after byte offset off.
func (n *Node) logSince(off int64) []byte {
	data, err := os.ReadFile(n.logPath)
	if err != nil || int64(len(data)) < off {
		return nil
	}
	return data[off:]
}

// childEnv is the test's environment without STRATA_* variables, which
// `strata serve` reads as options: a developer's shell must not change
// what the harness starts.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}
