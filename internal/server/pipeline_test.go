package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/wire"
)

// pipelineHandler answers Produce with a response that waits, in Await,
// until the test releases its correlation id (one it was given no release
// for is answered at once, as acks=1 is), and Metadata at once, recording
// how many produce answers were still unfinished then.
type pipelineHandler struct {
	handled    chan int32 // correlation ids, as Handle sees them
	release    map[int32]chan struct{}
	unfinished atomic.Int32
	metaSaw    chan int32 // unfinished produce answers when Metadata was served
	stopped    chan int32 // produce answers whose wait was called off
}

// doneMark names the one topic of a produce answer whose wait has ended.
const doneMark = "done"

func markDone(resp *kmsg.ProduceResponse) {
	resp.Topics = []kmsg.ProduceResponseTopic{{Topic: doneMark}}
}

func newPipelineHandler(release ...int32) *pipelineHandler {
	h := &pipelineHandler{
		handled: make(chan int32, 8),
		release: map[int32]chan struct{}{},
		metaSaw: make(chan int32, 1),
		stopped: make(chan int32, 8),
	}
	for _, corr := range release {
		h.release[corr] = make(chan struct{})
	}
	return h
}

// next returns the correlation id of the next request handled.
func (h *pipelineHandler) next(t *testing.T) int32 {
	t.Helper()
	select {
	case got := <-h.handled:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no request was handled")
		return 0
	}
}

// dialPipeline starts a server with h and connects to it.
func dialPipeline(t *testing.T, h *pipelineHandler) net.Conn {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(Config{Listen: "127.0.0.1:0", MaxRequestBytes: 1 << 20, Logger: logger}, wire.NewDispatcher(h, logger, nil))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// produceFrame is an acks=all Produce request with a long timeout.
func produceFrame(f *kmsg.RequestFormatter, corr int32) []byte {
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Acks, p.TimeoutMillis = -1, 30000
	return f.AppendRequest(nil, p, corr)
}

func (h *pipelineHandler) APIs() []broker.API {
	return []broker.API{{Key: 0, MinVersion: 3, MaxVersion: 12}, {Key: 3, MinVersion: 0, MaxVersion: 12}}
}

func (h *pipelineHandler) Features() []broker.Feature { return nil }

func (h *pipelineHandler) Handle(_ context.Context, req *broker.Request) (kmsg.Response, error) {
	h.handled <- req.CorrelationID
	switch r := req.Body.(type) {
	case *kmsg.ProduceRequest:
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		release, ok := h.release[req.CorrelationID]
		if !ok {
			markDone(resp)
			return resp, nil
		}
		h.unfinished.Add(1)
		req.Await = func(ctx context.Context) {
			select {
			case <-release:
			case <-ctx.Done():
				h.stopped <- req.CorrelationID
			}
			markDone(resp)
			h.unfinished.Add(-1)
		}
		return resp, nil
	case *kmsg.MetadataRequest:
		h.metaSaw <- h.unfinished.Load()
		return r.ResponseKind(), nil
	}
	return nil, fmt.Errorf("unexpected request %d", req.Key)
}

// TestPipelinedProduce checks that a Produce waiting for its commit does not
// hold up the connection's next Produce, that the answers go out in request
// order as each completes, and that a request of another API waits until
// the produces before it are answered.
func TestPipelinedProduce(t *testing.T) {
	h := newPipelineHandler(1, 2)
	c := dialPipeline(t, h)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	out := append(produceFrame(f, 1), produceFrame(f, 2)...)
	m := kmsg.NewPtrMetadataRequest()
	m.SetVersion(12)
	out = append(out, f.AppendRequest(nil, m, 3)...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}

	waitHandled := func(want int32) {
		t.Helper()
		if got := h.next(t); got != want {
			t.Fatalf("handled request %d, want %d", got, want)
		}
	}
	// The second Produce is served while the first waits.
	waitHandled(1)
	waitHandled(2)
	// Completing the second first must not reorder the answers.
	close(h.release[2])
	close(h.release[1])
	waitHandled(3)
	if n := <-h.metaSaw; n != 0 {
		t.Fatalf("Metadata was served with %d produce answers unfinished, want 0", n)
	}

	r := bufio.NewReader(c)
	readProduceAnswers(t, r, 1, 2)
	readAnswer(t, r, 3)
}

// readAnswer reads the next answer from r and checks its correlation id,
// returning its body.
func readAnswer(t *testing.T, r *bufio.Reader, want int32) []byte {
	t.Helper()
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatalf("reading answer %d: %v", want, err)
	}
	size, corr := binary.BigEndian.Uint32(head[:4]), int32(binary.BigEndian.Uint32(head[4:]))
	if corr != want {
		t.Fatalf("answer %d came with correlation id %d", want, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return body
}

// readProduceAnswers reads the answers to the produce requests want, in
// that order, and checks that each was written after its wait ended.
func readProduceAnswers(t *testing.T, r *bufio.Reader, want ...int32) {
	t.Helper()
	for _, corr := range want {
		body := readAnswer(t, r, corr)
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		if err := resp.ReadFrom(body[1:]); err != nil { // v9 is flexible: an empty tag buffer first
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != doneMark {
			t.Fatalf("answer %d was written before its commit wait ended", corr)
		}
	}
}

// TestAnswerAtOnceWaitsItsTurn checks that an answer ready at once (an
// acks=1 Produce) after one still waiting for its commit is not written
// ahead of it, though the connection's reader writes such answers itself
// when nothing is queued.
func TestAnswerAtOnceWaitsItsTurn(t *testing.T) {
	h := newPipelineHandler(1)
	c := dialPipeline(t, h)
	f := kmsg.NewRequestFormatter()
	// 2 goes to a connection with nothing queued, 4 behind the waiting 3
	out := append(produceFrame(f, 2), produceFrame(f, 1)...)
	if _, err := c.Write(append(out, produceFrame(f, 4)...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int32{2, 1, 4} {
		if got := h.next(t); got != want {
			t.Fatalf("handled request %d, want %d", got, want)
		}
	}
	r := bufio.NewReader(c)
	readProduceAnswers(t, r, 2)
	// Nothing more may arrive while 1 waits: give a wrongly written 4
	// time to show.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := r.Peek(1); err == nil {
		t.Fatal("an answer was written while the one before it waited for its commit")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	close(h.release[1])
	readProduceAnswers(t, r, 1, 4)
}

// TestPipelinedProduceClientGone checks that when the client closes its
// connection the wait of an unanswered Produce is called off, rather than
// running to the request's timeout with nobody to answer.
func TestPipelinedProduceClientGone(t *testing.T) {
	h := newPipelineHandler(1)
	c := dialPipeline(t, h)
	if _, err := c.Write(produceFrame(kmsg.NewRequestFormatter(), 1)); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != 1 {
		t.Fatalf("handled request %d, want 1", got)
	}
	c.Close()
	select {
	case <-h.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the commit wait went on after the client closed the connection")
	}
}
