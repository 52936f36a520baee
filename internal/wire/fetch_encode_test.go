package wire

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testLog returns a log of batches from 60 bytes to 40 KiB over several
// segments.
func testLog(t *testing.T) *commitlog.Log {
	t.Helper()
	cfg := commitlog.DefaultConfig()
	cfg.SegmentBytes = 256 << 10
	l, err := commitlog.Open(t.TempDir(), cfg, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 120 {
		n := 1 + rng.IntN(8)
		recs := make([]recordbatch.Record, n)
		size := []int{10, 500, 5000}[i%3]
		for j := range recs {
			v := make([]byte, rng.IntN(size))
			for k := range v {
				v[k] = byte(rng.Uint32())
			}
			recs[j] = recordbatch.Record{OffsetDelta: int32(j), Key: []byte{byte(j)}, Value: v}
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// randomFetchResponse returns a response of version v whose record sets
// are slices of l, and the same response for kmsg with the bytes inline.
func randomFetchResponse(t *testing.T, rng *rand.Rand, l *commitlog.Log, v int16) (*broker.FetchResponse, *kmsg.FetchResponse) {
	t.Helper()
	resp := &broker.FetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	resp.SetVersion(v)
	resp.ThrottleMillis, resp.ErrorCode, resp.SessionID = rng.Int32(), int16(rng.IntN(100)), rng.Int32()
	for ti := range rng.IntN(4) {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = string(bytes.Repeat([]byte{'a' + byte(ti)}, 1+rng.IntN(200)))
		rt.TopicID[0], rt.TopicID[15] = byte(ti), byte(rng.Uint32())
		var sets []commitlog.Slice
		for pi := range rng.IntN(5) {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = int32(pi), int16(rng.IntN(3))
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			rp.PreferredReadReplica = rng.Int32N(3) - 1
			switch rng.IntN(3) {
			case 0: // null
			case 1:
				rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range 1 + rng.IntN(3) {
					rp.AbortedTransactions = append(rp.AbortedTransactions,
						kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: rng.Int64(), FirstOffset: rng.Int64()})
				}
			}
			if v >= 12 && rng.IntN(20) == 0 {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = 1, 7 // a tagged field: kmsg encodes it
			}
			var set commitlog.Slice
			if rng.IntN(4) > 0 {
				var err error
				set, err = l.ReadSlice(rng.Int64N(l.EndOffset()), rng.Int32N(300<<10), math.MaxInt64)
				if err != nil {
					t.Fatal(err)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
			sets = append(sets, set)
		}
		resp.Topics = append(resp.Topics, rt)
		resp.Records = append(resp.Records, sets)
	}

	want := kmsg.NewPtrFetchResponse()
	*want = *resp.FetchResponse
	want.Topics = nil
	for ti, rt := range resp.Topics {
		rt.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), rt.Partitions...)
		for pi := range rt.Partitions {
			b, err := resp.Records[ti][pi].AppendTo([]byte{})
			if err != nil {
				t.Fatal(err)
			}
			rt.Partitions[pi].RecordBatches = b
		}
		want.Topics = append(want.Topics, rt)
	}
	return resp, want
}

// flatten returns the frame's bytes with its record sets read in, and
// releases them.
func flatten(t *testing.T, f Frame) []byte {
	t.Helper()
	defer f.Release()
	var out []byte
	last := 0
	for _, s := range f.Splices {
		out = append(out, f.Bytes[last:s.At]...)
		var err error
		if out, err = s.Records.AppendTo(out); err != nil {
			t.Fatal(err)
		}
		last = s.At
	}
	return append(out, f.Bytes[last:]...)
}

// TestFetchFrameMatchesKmsg checks the splicing encoder against kmsg's own
// encoding of the same response with the record bytes inline, for every
// served version.
func TestFetchFrameMatchesKmsg(t *testing.T) {
	l := testLog(t)
	rng := rand.New(rand.NewPCG(3, 4))
	spliced := 0
	for v := int16(4); v <= 17; v++ {
		for range 40 {
			resp, want := randomFetchResponse(t, rng, l, v)
			f, err := appendFetchFrame(nil, 77, resp)
			if err != nil {
				t.Fatal(err)
			}
			spliced += len(f.Splices)
			n := f.Len()
			got := flatten(t, f)
			if n != len(got) {
				t.Fatalf("v%d: Len %d, frame %d bytes", v, n, len(got))
			}
			exp := appendFrame(nil, 77, want, v >= 12)
			if !bytes.Equal(got, exp) {
				t.Fatalf("v%d: frame differs from kmsg's (%d vs %d bytes)", v, len(got), len(exp))
			}
		}
	}
	if spliced == 0 {
		t.Fatal("no record set was big enough to be spliced")
	}
}

// testFrames returns the same 20 spliced frames for the same seed.
func testFrames(t *testing.T, l *commitlog.Log, seed uint64) []Frame {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 6))
	var frames []Frame
	for range 20 {
		resp, _ := randomFetchResponse(t, rng, l, 16)
		f, err := appendFetchFrame(nil, 1, resp)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

// TestFrameWriteTo writes spliced frames to a loopback TCP socket, where
// the record sets go with sendfile, and to a buffer, where they are
// copied; both get the frames' bytes.
func TestFrameWriteTo(t *testing.T) {
	l := testLog(t)
	var want []byte
	for _, f := range testFrames(t, l, 5) {
		want = append(want, flatten(t, f)...)
	}

	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	for _, f := range testFrames(t, l, 5) {
		if err := f.WriteTo(bw, &buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("buffer got %d bytes, want %d (or different)", buf.Len(), len(want))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		got <- b
	}()
	bw = bufio.NewWriter(s)
	for _, f := range testFrames(t, l, 5) {
		if err := f.WriteTo(bw, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("socket got %d bytes, want %d (or different)", len(b), len(want))
	}
}
