package wire

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/stratalog/strata/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsRange is what Strata serves of ApiVersions itself: versions 0-4.
// (Version 5 of KIP-1242 adds cluster and node ids no client needs yet.)
var apiVersionsRange = broker.API{Key: 18, MinVersion: 0, MaxVersion: 4}

// Handler serves decoded requests. Handle returns the response to send, nil
// for a request that gets none (a produce with acks=0), or an error to close
// the connection with.
type Handler interface {
	APIs() []broker.API
	Features() []broker.Feature
	Handle(ctx context.Context, req *broker.Request) (kmsg.Response, error)
}

// Dispatcher decodes request frames, answers ApiVersions, hands every other
// request to a Handler and encodes the response frame.
type Dispatcher struct {
	handler  Handler
	logger   *slog.Logger
	apis     []broker.API // sorted by key, ApiVersions included
	features []broker.Feature
	byKey    map[int16]broker.API
	observer Observer
}

// Observer is told of every request served, for metrics. It may be nil.
type Observer interface {
	Observe(key, version int16, took time.Duration, err error)
}

// NewDispatcher builds a dispatcher over h's API table.
func NewDispatcher(h Handler, logger *slog.Logger, obs Observer) *Dispatcher {
	d := &Dispatcher{handler: h, logger: logger, byKey: make(map[int16]broker.API), observer: obs, features: h.Features()}
	for _, a := range append(h.APIs(), apiVersionsRange) {
		d.byKey[a.Key] = a
	}
	for _, a := range d.byKey {
		d.apis = append(d.apis, a)
	}
	slices.SortFunc(d.apis, func(a, b broker.API) int { return int(a.Key) - int(b.Key) })
	return d
}

// Serve handles one request frame (without its size prefix). It returns the
// whole response frame, its bytes appended to dst; a pending frame (see
// Frame.Pending) for a response that waits for its records to be
// committed; or a frame without bytes when the request gets no response.
// An error means the connection must be closed; Serve has logged nothing
// about it, the caller logs it once. With dst nil, a Fetch response's bytes
// are in a recycled buffer that goes back when the frame is released: they
// must not be used after WriteTo or Release.
func (d *Dispatcher) Serve(ctx context.Context, conn *broker.ConnInfo, frame, dst []byte) (Frame, error) {
	h, rest, err := parseHeader(frame)
	if err != nil {
		return Frame{}, err
	}
	api, ok := d.byKey[h.APIKey]
	if !ok {
		return Frame{}, fmt.Errorf("unknown api key %d", h.APIKey)
	}
	if h.APIKey == apiVersionsRange.Key {
		b, err := d.serveAPIVersions(h, rest, dst)
		return Frame{Bytes: b}, err
	}
	if h.APIVersion < api.MinVersion || h.APIVersion > api.MaxVersion {
		return Frame{}, fmt.Errorf("unsupported version %d of %s (serving %d-%d)",
			h.APIVersion, kmsg.NameForKey(h.APIKey), api.MinVersion, api.MaxVersion)
	}
	body, err := decodeBody(h, rest)
	if err != nil {
		return Frame{}, err
	}
	start := time.Now()
	req := &broker.Request{
		Key: h.APIKey, Version: h.APIVersion, CorrelationID: h.CorrelationID,
		ClientID: h.ClientID, Body: body, Conn: conn, Size: len(frame),
	}
	resp, err := d.handler.Handle(ctx, req)
	if err != nil || req.Await == nil {
		d.observe(h, start, err)
	}
	if err != nil {
		return Frame{}, err
	}
	if resp == nil {
		return Frame{Throttle: req.Mute}, nil
	}
	resp.SetVersion(h.APIVersion)
	var f Frame
	if req.Await != nil {
		f.await = func(ctx context.Context) (Frame, error) {
			req.Await(ctx)
			d.observe(h, start, nil)
			return d.encode(h, resp, body.IsFlexible(), dst)
		}
	} else if f, err = d.encode(h, resp, body.IsFlexible(), dst); err != nil {
		return f, err
	}
	if t, ok := resp.(throttled); ok {
		ms, afterResponse := t.Throttle()
		f.Throttle = time.Duration(max(ms, 0)) * time.Millisecond
		f.DelayResponse = !afterResponse
	}
	return f, nil
}

// observe tells the observer, if any, of a request served since start.
func (d *Dispatcher) observe(h Header, start time.Time, err error) {
	if d.observer != nil {
		d.observer.Observe(h.APIKey, h.APIVersion, time.Since(start), err)
	}
}

// throttled is a response that carries throttle_time_ms (kmsg's
// ThrottleResponse): its Throttle reports whether the client waits out the
// throttle after the response (KIP-219) rather than the broker before it.
type throttled interface {
	Throttle() (int32, bool)
}

// encode encodes resp, the answer to h, as a frame.
func (d *Dispatcher) encode(h Header, resp kmsg.Response, flexible bool, dst []byte) (Frame, error) {
	if fr, ok := resp.(*broker.FetchResponse); ok {
		if dst != nil {
			return appendFetchFrame(dst, h.CorrelationID, fr)
		}
		buf := newFetchFrame()
		f, err := appendFetchFrame(buf.Bytes, h.CorrelationID, fr)
		if err != nil {
			buf.Release()
			return Frame{}, err
		}
		f.pooled = buf.pooled
		return f, nil
	}
	return Frame{Bytes: appendFrame(dst, h.CorrelationID, resp, flexible)}, nil
}

// decodeBody decodes the body of a request of h's key and version, after
// the header's tagged fields for a flexible version.
func decodeBody(h Header, rest []byte) (kmsg.Request, error) {
	body := kmsg.RequestForKey(h.APIKey)
	if body == nil || h.APIVersion < 0 || h.APIVersion > body.MaxVersion() {
		return nil, fmt.Errorf("unsupported version %d of api key %d", h.APIVersion, h.APIKey)
	}
	body.SetVersion(h.APIVersion)
	var err error
	if body.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return nil, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	return body, nil
}

// ParseRequest parses a request frame (without its size prefix) for a
// caller that serves the request itself: the server answers the SASL
// handshake APIs, which belong to the connection rather than the broker.
// The caller checks the version against what it serves.
func ParseRequest(frame []byte) (Header, kmsg.Request, error) {
	h, rest, err := parseHeader(frame)
	if err != nil {
		return h, nil, err
	}
	body, err := decodeBody(h, rest)
	return h, body, err
}

// AppendResponse appends the frame of resp, size prefix included, as the
// answer to the request h heads.
func AppendResponse(dst []byte, h Header, resp kmsg.Response) []byte {
	resp.SetVersion(h.APIVersion)
	req := resp.RequestKind()
	req.SetVersion(h.APIVersion)
	return appendFrame(dst, h.CorrelationID, resp, req.IsFlexible())
}

// serveAPIVersions answers ApiVersions. A version above the highest served is
// answered, as Kafka does (KIP-511), in version 0 with UNSUPPORTED_VERSION and
// only ApiVersions' own range, so the client retries with a version it shares
// with us and learns the table and the features from that answer: a client
// that kept a full table from the v0 answer would never see the features.
func (d *Dispatcher) serveAPIVersions(h Header, rest, dst []byte) ([]byte, error) {
	resp := kmsg.NewPtrApiVersionsResponse()
	version := h.APIVersion
	if version < apiVersionsRange.MinVersion || version > apiVersionsRange.MaxVersion {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{
			ApiKey: apiVersionsRange.Key, MinVersion: apiVersionsRange.MinVersion, MaxVersion: apiVersionsRange.MaxVersion,
		}}
		return d.appendAPIVersions(h, 0, resp, dst), nil
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(version)
	var err error
	if req.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return nil, err
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("%w: ApiVersions v%d body: %v", ErrMalformed, version, err)
	}
	for _, a := range d.apis {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: a.Key, MinVersion: a.MinVersion, MaxVersion: a.MaxVersion,
		})
	}
	// The features are tagged fields of v3+; a client reads them only
	// with a finalized features epoch other than -1. The levels never
	// change while the process runs, so the epoch is constant.
	for _, f := range d.features {
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{
			Name: f.Name, MinVersion: f.MinVersion, MaxVersion: f.MaxVersion,
		})
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{
			Name: f.Name, MinVersionLevel: f.Level, MaxVersionLevel: f.Level,
		})
		resp.FinalizedFeaturesEpoch = 1
	}
	return d.appendAPIVersions(h, version, resp, dst), nil
}

// appendAPIVersions appends resp, in version, as the answer to h.
func (d *Dispatcher) appendAPIVersions(h Header, version int16, resp *kmsg.ApiVersionsResponse, dst []byte) []byte {
	resp.SetVersion(version)
	if d.observer != nil {
		d.observer.Observe(h.APIKey, h.APIVersion, 0, nil)
	}
	// ApiVersions responses always use header version 0 (KIP-511), so a
	// client that does not yet know our versions can read them.
	return appendFrame(dst, h.CorrelationID, resp, false)
}

// appendFrame appends size prefix, response header and body.
func appendFrame(dst []byte, correlationID int32, resp kmsg.Response, flexibleHeader bool) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendResponseHeader(dst, correlationID, flexibleHeader)
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
