package main

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/bench"
)

func TestParsePids(t *testing.T) {
	got, err := parsePids("1=100, 2=200,3=300")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1] != 100 || got[2] != 200 || got[3] != 300 {
		t.Errorf("got %v, want 1=100 2=200 3=300", got)
	}
	for _, bad := range []string{"", "1", "1=x", "x=1", "1=1", "1=0"} {
		if _, err := parsePids(bad); err == nil {
			t.Errorf("parsePids(%q): got no error", bad)
		}
	}
}

func TestStat(t *testing.T) {
	trials := func(v ...float64) []Trial {
		var ts []Trial
		for _, x := range v {
			ts = append(ts, Trial{RecoveryMs: x})
		}
		return ts
	}
	f := func(t Trial) float64 { return t.RecoveryMs }
	for _, c := range []struct {
		in   []Trial
		want Stat
	}{
		{nil, Stat{}},
		{trials(5), Stat{P50: 5, Max: 5}},
		{trials(3, 1, 2), Stat{P50: 2, Max: 3}},
		{trials(4, 1, 3, 2), Stat{P50: 2.5, Max: 4}},
	} {
		if got := stat(c.in, f); got != c.want {
			t.Errorf("stat(%v): got %+v, want %+v", c.in, got, c.want)
		}
	}
}

// value is a record value sent at sent with sequence number seq.
func value(sent time.Time, seq uint64) []byte {
	v := make([]byte, headerSize)
	bench.Stamp(v, sent)
	binary.BigEndian.PutUint64(v[bench.StampSize:], seq)
	return v
}

func TestTrackerRecovery(t *testing.T) {
	tr := newTracker()
	before := time.Now()
	tr.done(value(before, 0), nil)
	killAt, recovered := tr.arm()

	// an ack of a record sent before the kill is not the recovery
	tr.done(value(before, 1), nil)
	select {
	case <-recovered:
		t.Fatal("recovered on a record sent before the kill")
	default:
	}
	tr.done(value(killAt.Add(time.Millisecond), 2), errors.New("boom"))
	tr.done(value(killAt.Add(2*time.Millisecond), 3), nil)
	select {
	case <-recovered:
	default:
		t.Fatal("no recovery after the ack of a record sent after the kill")
	}
	if tr.recovery().IsZero() {
		t.Error("recovery time not set")
	}
	gap, errs := tr.closeWindow()
	if gap <= 0 || errs != 1 {
		t.Errorf("closeWindow: got gap %v, %d errors; want a gap > 0 and 1 error", gap, errs)
	}
	if tr.nAcked != 3 || tr.nFailed != 1 {
		t.Errorf("got %d acked, %d failed; want 3, 1", tr.nAcked, tr.nFailed)
	}
	for seq, want := range []bool{true, true, false, true} {
		if tr.acked[seq] != want {
			t.Errorf("acked[%d]: got %v, want %v", seq, tr.acked[seq], want)
		}
	}
}
