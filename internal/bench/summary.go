package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Workload modes, the Summary's Mode.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
)

const mib = 1 << 20

// Summary is the result of one workload run. Its JSON form is documented in
// the package comment; field names are stable.
type Summary struct {
	Mode          string   `json:"mode"`
	Topic         string   `json:"topic"`
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	Latency       *Latency `json:"latency_us,omitempty"`
	// Transactions is set for a transactional produce run only.
	Transactions *TxnSummary `json:"transactions,omitempty"`
}

// NewSummary builds the summary of a run of mode on topic that took elapsed
// and ended with snap. Rates are 0 when elapsed is not positive.
func NewSummary(mode, topic string, snap Snapshot, elapsed time.Duration) Summary {
	s := Summary{
		Mode:    mode,
		Topic:   topic,
		Records: snap.Records,
		Bytes:   snap.Bytes,
		Seconds: elapsed.Seconds(),
		Latency: snap.Latency,
	}
	if s.Seconds > 0 {
		s.RecordsPerSec = float64(s.Records) / s.Seconds
		s.MBPerSec = float64(s.Bytes) / mib / s.Seconds
	}
	return s
}

// WriteText writes s for people: one line of counts and rates; when there
// are latencies, one line of latency percentiles in milliseconds; for a
// transactional run, one line of transactions and one of commit latency.
func (s Summary) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s %q: %d records, %d bytes in %.3f s: %.1f records/s, %.2f MB/s\n",
		s.Mode, s.Topic, s.Records, s.Bytes, s.Seconds, s.RecordsPerSec, s.MBPerSec)
	if err == nil && s.Latency != nil {
		err = writeLatency(w, s.Mode+" latency", s.Latency)
	}
	if t := s.Transactions; err == nil && t != nil {
		_, err = fmt.Fprintf(w, "transactions: %d committed (%d records), %d aborted (%d records)\n",
			t.Committed, t.CommittedRecords, t.Aborted, t.AbortedRecords)
		if err == nil && t.CommitLatency != nil {
			err = writeLatency(w, "commit latency", t.CommitLatency)
		}
	}
	return err
}

// writeLatency writes one line of l's percentiles in milliseconds.
func writeLatency(w io.Writer, what string, l *Latency) error {
	_, err := fmt.Fprintf(w, "%s ms: p50 %s, p95 %s, p99 %s, p99.9 %s, max %s (%d samples)\n",
		what, millis(l.P50), millis(l.P95), millis(l.P99), millis(l.P999), millis(l.Max), l.Count)
	return err
}

// WriteJSON writes s as one JSON object followed by a newline.
func (s Summary) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(s)
}

// millis formats a microsecond count as milliseconds with three decimals.
func millis(us int64) string {
	return fmt.Sprintf("%.3f", float64(us)/1000)
}

// ProgressLine formats one progress report: the rates over the interval
// from prev to cur, which took interval, and the latency percentiles of the
// whole run so far (cur). elapsed is the time since the run started. The
// line ends with a newline.
func ProgressLine(mode string, elapsed, interval time.Duration, prev, cur Snapshot) string {
	var rps, mbps float64
	if s := interval.Seconds(); s > 0 {
		rps = float64(cur.Records-prev.Records) / s
		mbps = float64(cur.Bytes-prev.Bytes) / mib / s
	}
	line := fmt.Sprintf("%s %6.1fs: %d records, %.1f records/s, %.2f MB/s", mode, elapsed.Seconds(), cur.Records, rps, mbps)
	if cur.Latency != nil {
		line += fmt.Sprintf(", latency so far p50 %s ms, p99 %s ms", millis(cur.Latency.P50), millis(cur.Latency.P99))
	}
	return line + "\n"
}
