package bench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestAwaitProgress(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		idle    time.Duration
		done    bool
		wantErr error
	}{
		{name: "already done", ctx: context.Background(), idle: time.Hour, done: true},
		{name: "context ended", ctx: canceled, idle: time.Hour},
		{name: "idle", ctx: context.Background(), idle: time.Millisecond, wantErr: ErrIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := AwaitProgress(tt.ctx, make(chan struct{}), tt.idle, func() bool { return tt.done })
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAwaitProgressChecksAfterSignal(t *testing.T) {
	notify := make(chan struct{}, 1)
	done := make(chan struct{})
	var calls int
	result := make(chan error)
	go func() {
		result <- AwaitProgress(context.Background(), notify, 0, func() bool {
			calls++
			select {
			case <-done:
				return true
			default:
				return false
			}
		})
	}()
	close(done)
	signal(notify)
	if err := <-result; err != nil {
		t.Errorf("got %v, want nil", err)
	}
	if calls < 1 {
		t.Errorf("got %d checks, want at least 1", calls)
	}
}

func TestConsumerOpts(t *testing.T) {
	ranges := []partitionRange{{partition: 0}, {partition: 1}, {partition: 2}, {partition: 3}, {partition: 4}}
	tests := []struct {
		name      string
		consumers int
		group     string
		want      int
	}{
		{name: "one reads all", consumers: 1, want: 1},
		{name: "shares", consumers: 2, want: 2},
		{name: "more consumers than partitions", consumers: 9, want: 5},
		{name: "group starts all", consumers: 9, group: "g", want: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := consumerOpts(ConsumeConfig{Topic: "t", Consumers: tt.consumers, Group: tt.group}, ranges)
			if len(got) != tt.want {
				t.Errorf("got %d consumers, want %d", len(got), tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	prod := ProducerSpec{RecordSize: 100}
	tests := []struct {
		name string
		err  error
	}{
		{name: "produce without count or duration", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Producers: 1}).validate()},
		{name: "produce without producers", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Records: 1}).validate()},
		{name: "produce zero size", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, Records: 1, Producers: 1}).validate()},
		{name: "produce negative rate", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Records: 1, Producers: 1, Rate: -1}).validate()},
		{name: "consume without topic", err: (&ConsumeConfig{Consumers: 1}).validate()},
		{name: "consume without consumers", err: (&ConsumeConfig{Topic: "t"}).validate()},
		{name: "consume negative fetch size", err: (&ConsumeConfig{Topic: "t", Consumers: 1, FetchSize: -1}).validate()},
		{name: "abort-every without transactions", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Records: 1, Producers: 1, Txn: TxnSpec{AbortEvery: 2}}).validate()},
		{name: "transactions without id prefix", err: (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Records: 1, Producers: 1, Txn: TxnSpec{Interval: time.Second}}).validate()},
		{name: "e2e value too short for stamp", err: (&E2EConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: ProducerSpec{RecordSize: 7}, Rate: 1, Duration: time.Second}).validate()},
		{name: "e2e without rate", err: (&E2EConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Duration: time.Second}).validate()},
		{name: "e2e without duration", err: (&E2EConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Rate: 1}).validate()},
		{name: "e2e negative warm-up", err: (&E2EConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Rate: 1, Duration: time.Second, Warmup: -time.Second}).validate()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, ErrConfig) {
				t.Errorf("got %v, want ErrConfig", tt.err)
			}
		})
	}
	if err := (&ProduceConfig{TopicSpec: TopicSpec{Topic: "t"}, ProducerSpec: prod, Records: 1, Producers: 1}).validate(); err != nil {
		t.Errorf("valid produce config: got %v, want nil", err)
	}
}

// TestEndOffsets: a partition is reached once read at or past its end,
// whatever offsets (markers, aborted records) were skipped on the way;
// empty partitions are reached from the start.
func TestEndOffsets(t *testing.T) {
	e := newEndOffsets([]partitionRange{{partition: 0, start: 0, end: 10}, {partition: 1, start: 5, end: 5}, {partition: 2, start: 3, end: 8}})
	steps := []struct {
		p    int32
		next int64
		want bool
	}{
		{0, 4, false},
		{0, 9, false},
		{2, 8, false},
		{9, 100, false}, // not a partition of the run
		{0, 3, false},   // behind: ignored
		{0, 11, true},   // past the end: the last offset was a marker
		{2, 12, true},   // once more: still reached
	}
	for i, st := range steps {
		e.advance(st.p, st.next)
		if got := e.reached(); got != st.want {
			t.Fatalf("step %d (%d to %d): got reached %v, want %v", i, st.p, st.next, got, st.want)
		}
	}
	if got := e.end(2); got != 8 {
		t.Errorf("got end %d, want 8", got)
	}
	var none *endOffsets
	none.advance(0, 1)
	if none.reached() || none.end(0) != math.MaxInt64 {
		t.Error("a nil endOffsets must have no end and never be reached")
	}
}
