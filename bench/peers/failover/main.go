// Command failover measures leader failover of a replicated log for the
// benchmark suite (bench/run.sh, workload R4): how long a producer goes
// without an acknowledgement when the leader of the log it writes to is
// killed with SIGKILL.
//
// It writes to one log of a three-node cluster: a Kafka topic with one
// partition and replication factor 3 (--brokers, through franz-go), or a
// NATS JetStream stream with 3 replicas (--nats). One producer sends records
// of --size bytes at a steady --rate, acks=all (JetStream: each publish
// acknowledged once a quorum stored it). Each of --trials trials then:
//
//  1. lets the producer run for --settle with every replica in sync;
//  2. asks the cluster for the log's leader (Kafka: a Metadata request;
//     NATS: the stream's info, cluster.leader, server name "n<id>"),
//     looks up its process id (--pids, updated by restarts) and sends it
//     SIGKILL;
//  3. waits for the first acknowledgement of a record that was handed to
//     the client after the kill: the recovery time is from the kill to
//     that acknowledgement;
//  4. runs the --restart command with {id} replaced by the killed node's
//     id; when the command's last line of output is a number, that is the
//     restarted node's process id for later trials;
//  5. waits until the restarted node is a caught-up replica again (Kafka:
//     in the partition's ISR with every other replica; NATS: a current
//     replica or the leader, with every replica current).
//
// The largest gap between consecutive acknowledgements is taken over each
// trial's window, from the last acknowledgement before the kill until the
// next trial's kill (or, for the last trial, the end of its settle time).
//
// Afterwards the producer stops, waits for its outstanding records, and the
// log is read back from the start: every acknowledged record must be there
// (a record carries its send time and a sequence number in its first 16
// bytes). It prints one JSON object: the client settings, each trial, the
// median and max of the recovery times and gaps, and the counts of
// acknowledged, failed, missing and duplicated records.
//
//	failover --brokers 127.0.0.1:9092 --topic r4 --pids 1=4242,2=4243,3=4244 \
//	    --restart 'bash restart.sh {id}' --trials 10 --rate 2000 --size 1024
//
// It exits 1 with a message on standard error when the cluster cannot be
// reached, a kill or restart fails, or the restarted node does not return
// within --timeout; 2 on bad flags. A trial whose recovery exceeds
// --timeout is reported as timed out and the run goes on.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stratalog/strata/internal/bench"
)

// config is the command line.
type config struct {
	brokers      string // Kafka seed brokers, or
	natsURLs     string // NATS server URLs
	topic        string // topic or stream, created if absent
	rate         float64
	size         int
	trials       int
	pids         map[int]int // node id -> process id
	restart      string      // shell command template with {id}
	settle       time.Duration
	timeout      time.Duration
	metaMinAge   time.Duration // Kafka client: kgo.MetadataMinAge
	retryBackoff time.Duration // Kafka client: kgo.RetryBackoffFn, constant
	natsAckWait  time.Duration // NATS client: jetstream.WithPublishAsyncTimeout
	verify       bool
}

// headerSize is the bytes of a record's value this program writes: the
// send time (bench.Stamp) and a sequence number.
const headerSize = bench.StampSize + 8

// maxPending bounds records sent but not yet acknowledged, as in natse2e:
// franz-go's default buffered-record limit, and the same for NATS.
const maxPending = 10000

func parseFlags(args []string) (config, error) {
	var c config
	var pids string
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.StringVar(&c.brokers, "brokers", "", "Kafka seed brokers, comma-separated")
	fs.StringVar(&c.natsURLs, "nats", "", "NATS server URLs, comma-separated (instead of --brokers)")
	fs.StringVar(&c.topic, "topic", "failover", "topic (1 partition, replication factor 3) or stream (3 replicas), created if absent")
	fs.Float64Var(&c.rate, "rate", 2000, "records per second")
	fs.IntVar(&c.size, "size", 1024, fmt.Sprintf("record value bytes, at least %d", headerSize))
	fs.IntVar(&c.trials, "trials", 10, "leader kills")
	fs.StringVar(&pids, "pids", "", "process id of every node: ID=PID,ID=PID,...")
	fs.StringVar(&c.restart, "restart", "", "shell command that restarts node {id}; its last output line may be the new process id")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "steady producing, all replicas in sync, before each kill")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "longest wait for the first acknowledgement after a kill, and for a restarted node to catch up")
	fs.DurationVar(&c.metaMinAge, "metadata-min-age", 100*time.Millisecond, "Kafka client: least time between metadata refreshes (kgo.MetadataMinAge; franz-go's default 5s)")
	fs.DurationVar(&c.retryBackoff, "retry-backoff", 20*time.Millisecond, "Kafka client: backoff before each retry (kgo.RetryBackoffFn; franz-go's default 250ms-5s, jittered)")
	fs.DurationVar(&c.natsAckWait, "nats-ack-timeout", 2*time.Second, "NATS client: how long a publish waits for its acknowledgement before it fails")
	fs.BoolVar(&c.verify, "verify", true, "read the log back at the end and check that every acknowledged record is there")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.pids, err = parsePids(pids); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case (c.brokers == "") == (c.natsURLs == ""):
		return c, errors.New("give exactly one of --brokers and --nats")
	case c.topic == "":
		return c, errors.New("no topic")
	case c.rate <= 0:
		return c, fmt.Errorf("rate must be positive, got %g", c.rate)
	case c.size < headerSize:
		return c, fmt.Errorf("size must be at least %d, got %d", headerSize, c.size)
	case c.trials <= 0:
		return c, fmt.Errorf("trials must be positive, got %d", c.trials)
	case c.restart == "":
		return c, errors.New("no --restart command")
	case c.settle < 0 || c.timeout <= 0 || c.metaMinAge <= 0 || c.retryBackoff < 0 || c.natsAckWait <= 0:
		return c, errors.New("durations must be positive")
	}
	return c, nil
}

// parsePids parses "1=100,2=200".
func parsePids(s string) (map[int]int, error) {
	m := map[int]int{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		id, err1 := strconv.Atoi(strings.TrimSpace(k))
		pid, err2 := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err1 != nil || err2 != nil || pid <= 1 {
			return nil, fmt.Errorf("--pids: bad entry %q, want ID=PID", kv)
		}
		m[id] = pid
	}
	if len(m) == 0 {
		return nil, errors.New("no --pids")
	}
	return m, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "failover: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, cfg)
	stop()
	if err != nil {
		// The trials so far still tell what happened.
		sum.Error = err.Error()
	}
	if werr := json.NewEncoder(os.Stdout).Encode(sum); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "failover: %v\n", err)
		os.Exit(1)
	}
}

// target is the cluster under test, holding one replicated log.
type target interface {
	// Produce hands value to the client to send; the outcome goes to the
	// done function the target was made with. An error is a send that
	// failed at once (done is not called for it).
	Produce(ctx context.Context, value []byte) error
	// Flush waits until every record handed over has an outcome.
	Flush(ctx context.Context) error
	// Leader returns the node id of the log's leader (-1 when it has
	// none) and of the cluster's controller (-1 when unknown).
	Leader(ctx context.Context) (leader, controller int, err error)
	// InSync reports whether node id is a caught-up replica of the log
	// and every other replica is too.
	InSync(ctx context.Context, id int) (bool, error)
	// ReadAll calls fn with the value of every record in the log, in order.
	ReadAll(ctx context.Context, fn func(value []byte)) error
	// Settings describes the client settings that matter for failover.
	Settings() map[string]string
	Close()
}

// Trial is one leader kill.
type Trial struct {
	Killed           int     `json:"killed"`
	PID              int     `json:"pid"`
	ControllerKilled *bool   `json:"controller_killed,omitempty"` // the node was also the active controller (Kafka only)
	NewLeader        int     `json:"new_leader"`
	RecoveryMs       float64 `json:"recovery_ms"` // kill to the first ack of a record sent after it
	MaxGapMs         float64 `json:"max_gap_ms"`  // longest time between consecutive acks in the trial's window
	RestartMs        float64 `json:"restart_ms"`  // the restart command's run time
	RejoinMs         float64 `json:"rejoin_ms"`   // restart command start to the node in sync again
	TimedOut         bool    `json:"timed_out"`
	Errors           int64   `json:"errors"` // records that failed in this trial's window
}

// Stat is the median and maximum of a set of trials' values.
type Stat struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

// Summary is what the program prints.
type Summary struct {
	System       string            `json:"system"` // "kafka" or "nats"
	Topic        string            `json:"topic"`
	Rate         float64           `json:"rate"`
	Size         int               `json:"size"`
	Client       map[string]string `json:"client"`
	Trials       []Trial           `json:"trials"`
	Recovery     Stat              `json:"recovery_ms"`
	MaxGap       Stat              `json:"max_gap_ms"`
	Rejoin       Stat              `json:"rejoin_ms"`
	Sent         int64             `json:"sent"`
	Acked        int64             `json:"acked"`
	Failed       int64             `json:"failed"`
	ErrorSamples map[string]int64  `json:"error_samples,omitempty"` // error text -> count, the first few kinds
	Verified     bool              `json:"verified"`
	VerifyError  string            `json:"verify_error,omitempty"` // why the log could not be read back
	Read         int64             `json:"read"`                   // records read back
	MissingAcked int64             `json:"missing_acked"`          // acknowledged but not read back: lost
	Duplicates   int64             `json:"duplicates"`
	Error        string            `json:"error,omitempty"` // why the run stopped early
}

// tracker follows acknowledgements. It is safe for concurrent use.
type tracker struct {
	mu         sync.Mutex
	lastAck    time.Time
	maxGap     time.Duration // since the window began
	killAt     time.Time     // zero outside a trial's wait for recovery
	firstAfter time.Time     // first ack of a record sent after killAt
	recovered  chan struct{} // closed when firstAfter is set
	acked      []bool        // by sequence number
	nAcked     int64
	nFailed    int64
	winErrors  int64
	samples    map[string]int64
}

func newTracker() *tracker { return &tracker{samples: map[string]int64{}} }

// done records the outcome of the record with value v.
func (t *tracker) done(v []byte, err error) {
	now := time.Now()
	sent, _ := bench.StampTime(v)
	seq := binary.BigEndian.Uint64(v[bench.StampSize:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.nFailed++
		t.winErrors++
		if k := err.Error(); t.samples[k] > 0 || len(t.samples) < 8 {
			t.samples[k]++
		}
		return
	}
	t.nAcked++
	for uint64(len(t.acked)) <= seq {
		t.acked = append(t.acked, make([]bool, len(t.acked)+1024)...)
	}
	t.acked[seq] = true
	if !t.lastAck.IsZero() && now.Sub(t.lastAck) > t.maxGap {
		t.maxGap = now.Sub(t.lastAck)
	}
	t.lastAck = now
	if !t.killAt.IsZero() && t.firstAfter.IsZero() && !sent.Before(t.killAt) {
		t.firstAfter = now
		close(t.recovered)
	}
}

// sinceAck returns the time since the last acknowledgement (a long time
// when there was none).
func (t *tracker) sinceAck() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastAck.IsZero() {
		return time.Hour
	}
	return time.Since(t.lastAck)
}

// arm starts a trial's window at the kill time it returns; the caller kills
// right after. The channel closes at the first ack of a record sent later.
func (t *tracker) arm() (time.Time, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxGap = 0
	t.winErrors = 0
	t.killAt = time.Now()
	t.firstAfter = time.Time{}
	t.recovered = make(chan struct{})
	return t.killAt, t.recovered
}

// recovery returns the first ack after the kill, or zero.
func (t *tracker) recovery() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstAfter
}

// closeWindow ends a trial's window: the largest gap between acks in it
// (counting the time since the last ack) and the failed records.
func (t *tracker) closeWindow() (time.Duration, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.maxGap
	if open := time.Since(t.lastAck); !t.lastAck.IsZero() && open > g {
		g = open
	}
	t.killAt = time.Time{}
	return g, t.winErrors
}

// run does the trials and returns the summary, with the trials so far when
// it returns an error.
func run(ctx context.Context, cfg config) (Summary, error) {
	sum := Summary{Topic: cfg.topic, Rate: cfg.rate, Size: cfg.size, Trials: []Trial{}}
	err := runTrials(ctx, cfg, &sum)
	sum.Recovery = stat(sum.Trials, func(t Trial) float64 { return t.RecoveryMs })
	sum.MaxGap = stat(sum.Trials, func(t Trial) float64 { return t.MaxGapMs })
	sum.Rejoin = stat(sum.Trials, func(t Trial) float64 { return t.RejoinMs })
	return sum, err
}

func runTrials(ctx context.Context, cfg config, sum *Summary) error {
	tr := newTracker()
	var tg target
	var err error
	if cfg.brokers != "" {
		sum.System = "kafka"
		tg, err = newKafkaTarget(ctx, cfg, tr.done)
	} else {
		sum.System = "nats"
		tg, err = newNATSTarget(ctx, cfg, tr.done)
	}
	if err != nil {
		return err
	}
	defer tg.Close()
	sum.Client = tg.Settings()
	counts := func() {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		sum.Acked, sum.Failed, sum.ErrorSamples = tr.nAcked, tr.nFailed, tr.samples
	}
	if err := waitFor(ctx, cfg.timeout, "every replica in sync before the first trial", func() (bool, error) {
		return tg.InSync(ctx, -1)
	}); err != nil {
		return err
	}

	prodCtx, stopProducer := context.WithCancel(ctx)
	var sent int64
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		sent = produce(prodCtx, tg, cfg, tr.done)
	}()
	defer func() { // on an early return: stop, and count what happened
		stopProducer()
		<-prodDone
		sum.Sent = sent
		counts()
	}()

	for i := 0; i < cfg.trials; i++ {
		if err := settle(ctx, cfg, tr); err != nil {
			return err
		}
		if i > 0 {
			closeTrial(&sum.Trials[i-1], tr)
		}
		t, err := trial(ctx, cfg, tg, tr)
		sum.Trials = append(sum.Trials, t)
		fmt.Fprintf(os.Stderr, "failover: trial %d: killed node %d (pid %d), new leader %d, recovery %.1f ms, rejoin %.0f ms%s\n",
			i+1, t.Killed, t.PID, t.NewLeader, t.RecoveryMs, t.RejoinMs, map[bool]string{true: ", TIMED OUT"}[t.TimedOut])
		if err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
	}
	if err := settle(ctx, cfg, tr); err != nil {
		return err
	}
	closeTrial(&sum.Trials[len(sum.Trials)-1], tr)

	stopProducer()
	<-prodDone
	flushCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	err = tg.Flush(flushCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	sum.Sent = sent
	counts()
	tr.mu.Lock()
	acked := tr.acked
	tr.mu.Unlock()
	if cfg.verify {
		if err := verify(ctx, tg, acked, sum); err != nil {
			sum.VerifyError = err.Error()
		}
	}
	return nil
}

// produce sends records on a fixed schedule until ctx ends and returns how
// many it handed over. A record's value starts with the time it was handed
// to the client and its sequence number.
func produce(ctx context.Context, tg target, cfg config, done func([]byte, error)) int64 {
	vals := bench.NewValues(cfg.size, false, uint64(time.Now().UnixNano()))
	p := bench.NewPacer(time.Now(), cfg.rate)
	var seq uint64
	for {
		if _, ok := p.Wait(ctx, time.Time{}); !ok {
			return int64(seq)
		}
		v := bytes.Clone(vals.Next())
		binary.BigEndian.PutUint64(v[bench.StampSize:], seq)
		seq++
		bench.Stamp(v, time.Now())
		if err := tg.Produce(ctx, v); err != nil {
			if ctx.Err() != nil {
				return int64(seq - 1)
			}
			done(v, err)
		}
	}
}

// settle waits cfg.settle, then until acknowledgements flow (one within the
// last 200 ms).
func settle(ctx context.Context, cfg config, tr *tracker) error {
	if err := sleep(ctx, cfg.settle); err != nil {
		return err
	}
	return waitFor(ctx, cfg.timeout, "acknowledgements before a kill", func() (bool, error) {
		return tr.sinceAck() < 200*time.Millisecond, nil
	})
}

func closeTrial(t *Trial, tr *tracker) {
	gap, errs := tr.closeWindow()
	t.MaxGapMs = ms(gap)
	t.Errors = errs
}

// trial kills the log's leader, waits for recovery, restarts the node and
// waits for it to catch up.
func trial(ctx context.Context, cfg config, tg target, tr *tracker) (Trial, error) {
	var t Trial
	var leader, controller int
	if err := waitFor(ctx, cfg.timeout, "a leader", func() (bool, error) {
		var err error
		leader, controller, err = tg.Leader(ctx)
		return err == nil && leader >= 0, nil
	}); err != nil {
		return t, err
	}
	pid, ok := cfg.pids[leader]
	if !ok {
		return t, fmt.Errorf("leader %d has no process id in --pids", leader)
	}
	t.Killed, t.PID = leader, pid
	if err := syscall.Kill(pid, 0); err != nil {
		return t, fmt.Errorf("node %d (pid %d) is not running: %w", leader, pid, err)
	}
	if controller >= 0 {
		k := leader == controller
		t.ControllerKilled = &k
	}

	killAt, recovered := tr.arm()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return t, fmt.Errorf("kill node %d (pid %d): %w", leader, pid, err)
	}
	timer := time.NewTimer(cfg.timeout)
	select {
	case <-recovered:
		t.RecoveryMs = ms(tr.recovery().Sub(killAt))
	case <-timer.C:
		t.TimedOut = true
		t.RecoveryMs = ms(cfg.timeout)
	case <-ctx.Done():
		timer.Stop()
		return t, ctx.Err()
	}
	timer.Stop()
	t.NewLeader, _, _ = tg.Leader(ctx)

	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(cfg.restart, "{id}", strconv.Itoa(leader)))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	t.RestartMs = ms(time.Since(start))
	if err != nil {
		return t, fmt.Errorf("restart node %d: %w", leader, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) > 0 {
		if pid, err := strconv.Atoi(lines[len(lines)-1]); err == nil && pid > 1 {
			cfg.pids[leader] = pid
		}
	}
	if err := waitFor(ctx, cfg.timeout, fmt.Sprintf("node %d back in sync", leader), func() (bool, error) {
		ok, err := tg.InSync(ctx, leader)
		return err == nil && ok, nil
	}); err != nil {
		return t, err
	}
	t.RejoinMs = ms(time.Since(start))
	return t, nil
}

// verify reads the log back and counts acknowledged records missing from it
// and records read more than once.
func verify(ctx context.Context, tg target, acked []bool, sum *Summary) error {
	seen := make([]uint8, len(acked))
	err := tg.ReadAll(ctx, func(v []byte) {
		sum.Read++
		if len(v) < headerSize {
			return
		}
		seq := binary.BigEndian.Uint64(v[bench.StampSize:])
		if seq >= uint64(len(seen)) {
			seen = append(seen, make([]uint8, seq+1-uint64(len(seen)))...)
		}
		if seen[seq] == 1 {
			sum.Duplicates++
		}
		if seen[seq] < 2 {
			seen[seq]++
		}
	})
	if err != nil {
		return err
	}
	for i, a := range acked {
		if a && seen[i] == 0 {
			sum.MissingAcked++
		}
	}
	sum.Verified = true
	return nil
}

// waitFor polls cond every 20 ms until it holds, for at most timeout.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("no %s within %s: %w", what, timeout, err)
			}
			return fmt.Errorf("no %s within %s", what, timeout)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stat returns the median and maximum of f over trials.
func stat(trials []Trial, f func(Trial) float64) Stat {
	if len(trials) == 0 {
		return Stat{}
	}
	v := make([]float64, len(trials))
	for i, t := range trials {
		v[i] = f(t)
	}
	sort.Float64s(v)
	n := len(v)
	p50 := v[n/2]
	if n%2 == 0 {
		p50 = (v[n/2-1] + v[n/2]) / 2
	}
	return Stat{P50: p50, Max: v[n-1]}
}
