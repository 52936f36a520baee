package wire

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/broker"
)

// echoHandler serves Metadata v0-12 by answering an empty response, and
// Produce v3-12 with no response (as for acks=0), so the dispatcher's own
// behaviour can be checked without a broker.
type echoHandler struct{ calls int }

func (h *echoHandler) APIs() []broker.API {
	return []broker.API{{Key: 0, MinVersion: 3, MaxVersion: 12}, {Key: 3, MinVersion: 0, MaxVersion: 12}}
}

func (h *echoHandler) Features() []broker.Feature {
	return []broker.Feature{{Name: "transaction.version", MinVersion: 0, MaxVersion: 2, Level: 2}}
}

func (h *echoHandler) Handle(_ context.Context, req *broker.Request) (kmsg.Response, error) {
	h.calls++
	if req.Key == 0 {
		return nil, nil
	}
	return req.Body.ResponseKind(), nil
}

func newTestDispatcher() (*Dispatcher, *echoHandler) {
	h := &echoHandler{}
	return NewDispatcher(h, slog.New(slog.NewTextHandler(io.Discard, nil)), nil), h
}

// requestFrame encodes req as a client would, without the size prefix.
func requestFrame(req kmsg.Request, correlationID int32) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	b := f.AppendRequest(nil, req, correlationID)
	return b[4:]
}

func TestServeRoundTrip(t *testing.T) {
	d, h := newTestDispatcher()
	for v := int16(0); v <= 12; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		fr, err := d.Serve(context.Background(), &broker.ConnInfo{}, requestFrame(req, 42+int32(v)), nil)
		resp := fr.Bytes
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if got := binary.BigEndian.Uint32(resp); int(got) != len(resp)-4 {
			t.Fatalf("v%d: size prefix %d, frame %d", v, got, len(resp)-4)
		}
		if got := int32(binary.BigEndian.Uint32(resp[4:])); got != 42+int32(v) {
			t.Fatalf("v%d: correlation id %d, want %d", v, got, 42+v)
		}
		body := resp[8:]
		if req.IsFlexible() {
			body = body[1:] // empty header tags
		}
		mr := kmsg.NewPtrMetadataResponse()
		mr.SetVersion(v)
		if err := mr.ReadFrom(body); err != nil {
			t.Fatalf("v%d: response does not parse: %v", v, err)
		}
	}
	if h.calls != 13 {
		t.Fatalf("handler called %d times, want 13", h.calls)
	}
}

func TestServeNoResponse(t *testing.T) {
	d, _ := newTestDispatcher()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	fr, err := d.Serve(context.Background(), &broker.ConnInfo{}, requestFrame(req, 1), nil)
	resp := fr.Bytes
	if err != nil || resp != nil {
		t.Fatalf("got %v, %v; want no response and no error", resp, err)
	}
}

func TestServeRejects(t *testing.T) {
	d, _ := newTestDispatcher()
	produceV2 := kmsg.NewPtrProduceRequest()
	produceV2.SetVersion(2)
	unknown := requestFrame(kmsg.NewPtrMetadataRequest(), 1)
	binary.BigEndian.PutUint16(unknown, 999)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short header", []byte{0, 3, 0, 1}},
		{"client id past end", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 50, 'a'}},
		{"unknown key", unknown},
		{"version below range", requestFrame(produceV2, 1)},
		{"body cut", requestFrame(kmsg.NewPtrMetadataRequest(), 1)[:11]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Serve(context.Background(), &broker.ConnInfo{}, tt.frame, nil); err == nil {
				t.Fatal("got no error, want the connection closed")
			}
		})
	}
}

func TestAPIVersions(t *testing.T) {
	d, _ := newTestDispatcher()
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		fr, err := d.Serve(context.Background(), &broker.ConnInfo{}, requestFrame(req, 9), nil)
		resp := fr.Bytes
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		av := kmsg.NewPtrApiVersionsResponse()
		av.SetVersion(v)
		if err := av.ReadFrom(resp[8:]); err != nil { // header v0 always
			t.Fatalf("v%d: %v", v, err)
		}
		if av.ErrorCode != 0 || len(av.ApiKeys) != 3 {
			t.Fatalf("v%d: got error %d and %d keys, want 0 and 3", v, av.ErrorCode, len(av.ApiKeys))
		}
		// The features are tagged fields of v3+.
		wantFeatures := 0
		if v >= 3 {
			wantFeatures = 1
		}
		if len(av.SupportedFeatures) != wantFeatures || len(av.FinalizedFeatures) != wantFeatures ||
			wantFeatures == 1 && (av.FinalizedFeatures[0].MaxVersionLevel != 2 || av.FinalizedFeaturesEpoch < 0) {
			t.Fatalf("v%d: features %+v, finalized %+v (epoch %d)", v, av.SupportedFeatures, av.FinalizedFeatures, av.FinalizedFeaturesEpoch)
		}
	}
	// Too new: answered in v0 with UNSUPPORTED_VERSION and ApiVersions'
	// own range only (KIP-511), as Kafka answers.
	frame := requestFrame(kmsg.NewPtrApiVersionsRequest(), 9)
	binary.BigEndian.PutUint16(frame[2:], 77)
	fr, err := d.Serve(context.Background(), &broker.ConnInfo{}, frame, nil)
	resp := fr.Bytes
	if err != nil {
		t.Fatal(err)
	}
	av := kmsg.NewPtrApiVersionsResponse()
	if err := av.ReadFrom(resp[8:]); err != nil {
		t.Fatal(err)
	}
	if av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) != 1 || av.ApiKeys[0].ApiKey != 18 || av.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("got error %d with keys %+v, want UNSUPPORTED_VERSION with ApiVersions 0-4", av.ErrorCode, av.ApiKeys)
	}
}

// FuzzServe feeds arbitrary frames to the dispatcher. Invariants: it never
// panics; it either closes the connection (an error) or answers with a
// frame whose size prefix matches its length.
func FuzzServe(f *testing.F) {
	for _, req := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrProduceRequest()} {
		for _, v := range []int16{0, 3, 9, 12} {
			req.SetVersion(v)
			f.Add(requestFrame(req, 5))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0})
	d, _ := newTestDispatcher()
	f.Fuzz(func(t *testing.T, frame []byte) {
		fr, err := d.Serve(context.Background(), &broker.ConnInfo{}, frame, nil)
		resp := fr.Bytes
		if err != nil {
			if resp != nil {
				t.Fatal("response with error")
			}
			return
		}
		if resp != nil && int(binary.BigEndian.Uint32(resp)) != len(resp)-4 {
			t.Fatalf("size prefix %d, frame %d", binary.BigEndian.Uint32(resp), len(resp)-4)
		}
	})
}
