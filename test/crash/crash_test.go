// Package crash kills a Strata process with SIGKILL in the middle of a
// produce stream and checks that every acknowledged record survives.
package crash

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// buildStrata builds the strata binary into a temporary directory.
func buildStrata(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/stratalog/strata/cmd/strata")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	return bin
}

var readyLine = regexp.MustCompile(`strata ready.* kafka=(\S+)`)

// startStrata starts `strata serve` on a free loopback port and returns the
// process and its Kafka address, read from the ready log line.
func startStrata(t *testing.T, bin, dataDir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	var logMu sync.Mutex
	var logLines []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			logMu.Lock()
			t.Logf("strata log:\n%s", strings.Join(logLines, "\n"))
			logMu.Unlock()
		}
	})
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("strata did not log that it was ready within 30s")
	}
	return nil, ""
}

// TestKill9KeepsAcknowledgedRecords produces with acks=all under the
// strictest flush policy (fsync before every acknowledgement), kills the
// broker with SIGKILL mid-stream, restarts it on the same data and checks
// that every acknowledged record is there at its acknowledged offset.
func TestKill9KeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildStrata(t)
	dataDir := t.TempDir()
	flush := []string{"--set", "log.flush.interval.messages=1", "--set", "num.partitions=3"}
	cmd, addr := startStrata(t, bin, dataDir, flush...)

	const topic, partitions = "crash", 3
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(0), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	type acked struct {
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	ackedValues := map[acked]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const killAfter = 20_000
	killed := make(chan struct{})
	var once sync.Once
	var promises sync.WaitGroup // every produced record's callback
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-killed:
				return
			default:
			}
			v := fmt.Sprintf("value-%d", i)
			promises.Add(1)
			cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % partitions)), Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer promises.Done()
				if err != nil {
					return
				}
				mu.Lock()
				ackedValues[acked{r.Partition, r.Offset}] = string(r.Value)
				n := len(ackedValues)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						cmd.Process.Kill() // SIGKILL
						close(killed)
					})
				}
			})
		}
	}()
	select {
	case <-killed:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("only %d records acknowledged before the deadline", len(ackedValues))
	}
	cmd.Wait()
	// Close fails whatever is still in flight (never acknowledged); wait
	// for every callback, as some acknowledgements are delivered after
	// Close returns.
	<-producerDone
	cl.Close()
	promises.Wait()
	mu.Lock()
	want := len(ackedValues)
	mu.Unlock()
	t.Logf("killed after %d acknowledged records", want)

	_, addr = startStrata(t, bin, dataDir, flush...)
	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	found := 0
	mu.Lock()
	defer mu.Unlock()
	for found < want && ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			if v, ok := ackedValues[acked{r.Partition, r.Offset}]; ok {
				if v != string(r.Value) {
					t.Errorf("partition %d offset %d: got %q, acknowledged %q", r.Partition, r.Offset, r.Value, v)
				}
				found++
			}
		})
	}
	if found != want {
		t.Fatalf("found %d of %d acknowledged records after restart", found, want)
	}
}
