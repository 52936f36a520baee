package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The round-trip tests produce numbered records and check what comes back:
// record i goes to partition i % partitions with key "k-<i>", a value that
// names i, two headers and the timestamp base+i ms.
type testRecord struct {
	Partition int32
	Key       string
	Value     string
	Headers   map[string]string
	Time      time.Time
}

var baseTime = time.UnixMilli(1_700_000_000_000)

func makeRecord(i, partitions int, client string) testRecord {
	return testRecord{
		Partition: int32(i % partitions),
		Key:       "k-" + strconv.Itoa(i),
		Value:     fmt.Sprintf("v-%d-%s-%080d", i, client, i),
		Headers:   map[string]string{"idx": strconv.Itoa(i), "client": client},
		Time:      baseTime.Add(time.Duration(i) * time.Millisecond),
	}
}

// checker verifies consumed records: each exactly once, in produce order per
// partition, with offsets increasing, and with keys, values, headers and
// timestamps as produced. It is safe for concurrent use.
type checker struct {
	t          *testing.T
	n          int
	partitions int
	client     string

	mu      sync.Mutex
	seen    []bool
	count   int
	lastIdx map[int32]int
	lastOff map[int32]int64
	errs    int
}

func newChecker(t *testing.T, n, partitions int, client string) *checker {
	return &checker{t: t, n: n, partitions: partitions, client: client, seen: make([]bool, n),
		lastIdx: map[int32]int{}, lastOff: map[int32]int64{}}
}

func (c *checker) fail(format string, args ...any) {
	c.errs++
	if c.errs <= 10 {
		c.t.Errorf(format, args...)
	}
}

// add checks one consumed record.
func (c *checker) add(partition int32, offset int64, key, value string, headers map[string]string, ts time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := strconv.Atoi(headers["idx"])
	if err != nil || i < 0 || i >= c.n {
		c.fail("partition %d offset %d: bad idx header %q", partition, offset, headers["idx"])
		return
	}
	want := makeRecord(i, c.partitions, c.client)
	switch {
	case c.seen[i]:
		c.fail("record %d consumed twice (partition %d offset %d)", i, partition, offset)
	case partition != want.Partition:
		c.fail("record %d in partition %d, want %d", i, partition, want.Partition)
	case key != want.Key || value != want.Value:
		c.fail("record %d: got key %q value %q, want %q %q", i, key, value, want.Key, want.Value)
	case headers["client"] != c.client || len(headers) != 2:
		c.fail("record %d: got headers %v, want %v", i, headers, want.Headers)
	case !ts.Equal(want.Time):
		c.fail("record %d: got timestamp %v, want %v", i, ts.UnixMilli(), want.Time.UnixMilli())
	}
	if last, ok := c.lastIdx[partition]; ok && i <= last {
		c.fail("partition %d: record %d after record %d", partition, i, last)
	}
	if last, ok := c.lastOff[partition]; ok && offset <= last {
		c.fail("partition %d: offset %d after offset %d", partition, offset, last)
	}
	c.lastIdx[partition], c.lastOff[partition] = i, offset
	if !c.seen[i] {
		c.seen[i] = true
		c.count++
	}
}

func (c *checker) done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count == c.n
}

// finish reports records never consumed.
func (c *checker) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count != c.n {
		missing := 0
		first := -1
		for i, s := range c.seen {
			if !s {
				missing++
				if first < 0 {
					first = i
				}
			}
		}
		c.t.Errorf("%s: consumed %d of %d records; %d missing, first %d", c.client, c.count, c.n, missing, first)
	}
}

// roundTripRecords is how many records each client and codec round-trips:
// the issue asks for 100k; -short runs a tenth.
func roundTripRecords() int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}
