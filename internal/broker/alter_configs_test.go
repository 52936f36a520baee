package broker

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/controller"
	"github.com/stratalog/strata/internal/metadata"
)

func configOp(name string, op kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, op, value
	return c
}

func strp(s string) *string { return &s }

func TestApplyConfigOps(t *testing.T) {
	inForce := []config.Entry{
		{Name: "cleanup.policy", Value: strp("delete"), Type: kmsg.ConfigTypeList},
		{Name: "retention.ms", Value: strp("604800000"), Type: kmsg.ConfigTypeLong},
		{Name: "empty.list", Value: nil, Type: kmsg.ConfigTypeList},
	}
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	tests := []struct {
		name      string
		overrides map[string]string
		ops       []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want      map[string]string
		wantErr   *kerr.Error
	}{
		{name: "set on none", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("retention.ms", set, strp("1000"))},
			want: map[string]string{"retention.ms": "1000"}},
		{name: "set replaces", overrides: map[string]string{"retention.ms": "5"},
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("retention.ms", set, strp("6"))},
			want: map[string]string{"retention.ms": "6"}},
		{name: "delete", overrides: map[string]string{"retention.ms": "5", "cleanup.policy": "compact"},
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("retention.ms", del, nil)},
			want: map[string]string{"cleanup.policy": "compact"}},
		{name: "delete unset is a no-op", overrides: map[string]string{"cleanup.policy": "compact"},
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("no.such", del, nil)},
			want: map[string]string{"cleanup.policy": "compact"}},
		{name: "append to default", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("cleanup.policy", appendOp, strp("compact"))},
			want: map[string]string{"cleanup.policy": "delete,compact"}},
		{name: "append present value", overrides: map[string]string{"cleanup.policy": "compact, delete"},
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("cleanup.policy", appendOp, strp("delete"))},
			want: map[string]string{"cleanup.policy": "compact,delete"}},
		{name: "append to empty list", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("empty.list", appendOp, strp("a,b"))},
			want: map[string]string{"empty.list": "a,b"}},
		{name: "subtract", overrides: map[string]string{"cleanup.policy": "delete,compact"},
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("cleanup.policy", subtract, strp("delete"))},
			want: map[string]string{"cleanup.policy": "compact"}},
		{name: "subtract to empty", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("cleanup.policy", subtract, strp("delete"))},
			want: map[string]string{"cleanup.policy": ""}},
		{name: "append to non-list", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("retention.ms", appendOp, strp("1"))},
			wantErr: kerr.InvalidConfig},
		{name: "subtract unknown", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("no.such", subtract, strp("1"))},
			wantErr: kerr.InvalidConfig},
		{name: "unknown op", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{configOp("retention.ms", 9, strp("1"))},
			wantErr: kerr.InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.overrides)
			got, err := applyConfigOps(tt.overrides, tt.ops, inForce)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if !maps.Equal(tt.overrides, before) {
				t.Errorf("overrides modified: got %v, want %v", tt.overrides, before)
			}
		})
	}
}

func TestCheckConfigOps(t *testing.T) {
	tests := []struct {
		name    string
		ops     []kmsg.IncrementalAlterConfigsRequestResourceConfig
		wantErr *kerr.Error
		wantMsg string
	}{
		{name: "ok", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			configOp("a", kmsg.IncrementalAlterConfigOpSet, strp("1")), configOp("b", kmsg.IncrementalAlterConfigOpDelete, nil)}},
		{name: "duplicate", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			configOp("a", kmsg.IncrementalAlterConfigOpSet, strp("1")), configOp("a", kmsg.IncrementalAlterConfigOpDelete, nil)},
			wantErr: kerr.InvalidRequest, wantMsg: "Error due to duplicate config keys"},
		{name: "nulls", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			configOp("a", kmsg.IncrementalAlterConfigOpSet, nil), configOp("b", kmsg.IncrementalAlterConfigOpDelete, nil),
			configOp("c", kmsg.IncrementalAlterConfigOpAppend, nil)},
			wantErr: kerr.InvalidRequest, wantMsg: "Null value not supported for : a, c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkConfigOps(tt.ops)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if msg := errorMessage(err); msg == nil || *msg != tt.wantMsg {
				t.Errorf("got message %v, want %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestCheckNodeID(t *testing.T) {
	tests := []struct {
		name    string
		wantMsg string // "" for no error
	}{
		{"3", ""},
		{"4", "Unexpected broker id, expected 3 or empty string, but received 4"},
		{"x", "Broker id must be an integer, but it is: x"},
		{"99999999999", "Broker id must be an integer, but it is: 99999999999"},
	}
	for _, tt := range tests {
		err := checkNodeID(tt.name, 3, " or empty string")
		if tt.wantMsg == "" {
			if err != nil {
				t.Errorf("checkNodeID(%q): got %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, kerr.InvalidRequest) || err.Error() != tt.wantMsg {
			t.Errorf("checkNodeID(%q): got %v, want INVALID_REQUEST %q", tt.name, err, tt.wantMsg)
		}
	}
}

func TestAlterConfigsChecks(t *testing.T) {
	// No case here changes anything, so the controller has no log to
	// propose to.
	store := metadata.NewStore()
	b := &Broker{cfg: Config{NodeID: 1}, store: store, ctrl: controller.New(nil, store, controller.Config{NodeID: 1}, nil)}
	res := func(typ kmsg.ConfigResourceType, name string, replace bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) alterResource {
		return alterResource{typ: typ, name: name, replace: replace, ops: ops}
	}
	set := configOp("num.partitions", kmsg.IncrementalAlterConfigOpSet, strp("3"))
	del := configOp("num.partitions", kmsg.IncrementalAlterConfigOpDelete, nil)
	tests := []struct {
		name string
		res  []alterResource
		want []*kerr.Error // nil entries: success
	}{
		{"duplicate resources", []alterResource{
			res(kmsg.ConfigResourceTypeBroker, "1", false), res(kmsg.ConfigResourceTypeBroker, "1", false), res(kmsg.ConfigResourceTypeBroker, "", false)},
			[]*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest, nil}},
		{"broker set", []alterResource{res(kmsg.ConfigResourceTypeBroker, "1", false, set), res(kmsg.ConfigResourceTypeBroker, "", true, set)},
			[]*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest}},
		{"broker delete only", []alterResource{res(kmsg.ConfigResourceTypeBroker, "1", false, del)}, []*kerr.Error{nil}},
		{"other broker", []alterResource{res(kmsg.ConfigResourceTypeBroker, "2", false), res(kmsg.ConfigResourceTypeBroker, "x", false)},
			[]*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest}},
		{"logger set", []alterResource{res(kmsg.ConfigResourceTypeBrokerLogger, "1", false, set)}, []*kerr.Error{kerr.InvalidConfig}},
		{"logger append", []alterResource{
			res(kmsg.ConfigResourceTypeBrokerLogger, "1", false, configOp("x", kmsg.IncrementalAlterConfigOpAppend, strp("1")))},
			[]*kerr.Error{kerr.InvalidRequest}},
		{"logger legacy", []alterResource{res(kmsg.ConfigResourceTypeBrokerLogger, "1", true)}, []*kerr.Error{kerr.InvalidRequest}},
		{"logger nothing", []alterResource{res(kmsg.ConfigResourceTypeBrokerLogger, "1", false)}, []*kerr.Error{nil}},
		{"logger other broker", []alterResource{res(kmsg.ConfigResourceTypeBrokerLogger, "2", false)}, []*kerr.Error{kerr.InvalidRequest}},
		{"unknown type", []alterResource{res(kmsg.ConfigResourceTypeGroupConfig, "g", false)}, []*kerr.Error{kerr.InvalidRequest}},
		{"topics", []alterResource{
			res(kmsg.ConfigResourceTypeTopic, "nope", false, set),
			res(kmsg.ConfigResourceTypeTopic, "bad name", false, set),
			res(kmsg.ConfigResourceTypeTopic, "", false, set),
			res(kmsg.ConfigResourceTypeTopic, "x", true, configOp("a", kmsg.IncrementalAlterConfigOpSet, nil))},
			[]*kerr.Error{kerr.UnknownTopicOrPartition, kerr.InvalidTopicException, kerr.InvalidRequest, kerr.InvalidRequest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := b.alterConfigs(context.Background(), &Request{}, tt.res, false)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d results, want %d", len(errs), len(tt.want))
			}
			for i, want := range tt.want {
				if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
					t.Errorf("resource %d: got %v, want %v", i, errs[i], want)
				}
			}
		})
	}
}
