package broker

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
)

// testImage returns an image holding topics "a" (id 1) and "b" (id 2).
func testImage(t *testing.T) *metadata.Image {
	t.Helper()
	s := metadata.NewStore()
	if err := s.Apply(1, metadata.RegisterBroker{ID: 1, Host: "127.0.0.1", Port: 9092}); err != nil {
		t.Fatalf("register broker: %v", err)
	}
	for i, name := range []string{"a", "b"} {
		rec := metadata.CreateTopic{Name: name, ID: [16]byte{byte(i + 1)},
			Partitions: []metadata.Partition{{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}
		if err := s.Apply(uint64(i+2), rec); err != nil {
			t.Fatalf("apply %v: %v", rec, err)
		}
	}
	return s.Current()
}

func TestResolveDeletes(t *testing.T) {
	img := testImage(t)
	byName := func(n string) kmsg.DeleteTopicsRequestTopic { return kmsg.DeleteTopicsRequestTopic{Topic: &n} }
	byID := func(id byte) kmsg.DeleteTopicsRequestTopic {
		return kmsg.DeleteTopicsRequestTopic{TopicID: [16]byte{id}}
	}
	type want struct {
		name string // "" for none
		id   byte
		err  *kerr.Error
	}
	tests := []struct {
		desc    string
		entries []kmsg.DeleteTopicsRequestTopic
		want    []want
	}{
		{"by name", []kmsg.DeleteTopicsRequestTopic{byName("a"), byName("zz")},
			[]want{{"a", 1, nil}, {"zz", 0, kerr.UnknownTopicOrPartition}}},
		{"by id", []kmsg.DeleteTopicsRequestTopic{byID(2), byID(9)},
			[]want{{"b", 2, nil}, {"", 9, kerr.UnknownTopicID}}},
		{"duplicate name", []kmsg.DeleteTopicsRequestTopic{byName("a"), byName("b"), byName("a")},
			[]want{{"a", 0, kerr.InvalidRequest}, {"b", 2, nil}}},
		{"duplicate id", []kmsg.DeleteTopicsRequestTopic{byID(1), byID(1)},
			[]want{{"", 1, kerr.InvalidRequest}}},
		{"name and its id", []kmsg.DeleteTopicsRequestTopic{byName("a"), byID(1)},
			[]want{{"a", 1, kerr.InvalidRequest}, {"a", 1, kerr.InvalidRequest}}},
		{"neither", []kmsg.DeleteTopicsRequestTopic{{}},
			[]want{{"", 0, kerr.InvalidRequest}}},
		{"both", []kmsg.DeleteTopicsRequestTopic{{Topic: byName("a").Topic, TopicID: [16]byte{1}}},
			[]want{{"a", 1, kerr.InvalidRequest}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := resolveDeletes(img, tt.entries)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d targets, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if name := ptrString(g.name); name != w.name || g.id != [16]byte{w.id} {
					t.Errorf("target %d: got %q/%v, want %q/%v", i, name, g.id, w.name, [16]byte{w.id})
				}
				if w.err == nil && g.err != nil || w.err != nil && !errors.Is(g.err, w.err) {
					t.Errorf("target %d: got error %v, want %v", i, g.err, w.err)
				}
			}
		})
	}
}

func TestDeleteTopicsDisabled(t *testing.T) {
	settings, err := config.ParseBroker(map[string]string{"delete.topic.enable": "false"})
	if err != nil {
		t.Fatalf("parse settings: %v", err)
	}
	s := metadata.NewStore()
	b := &Broker{cfg: Config{NodeID: 1, Settings: settings}, store: s}
	for _, tt := range []struct {
		version int16
		want    *kerr.Error
	}{{2, kerr.InvalidRequest}, {3, kerr.TopicDeletionDisabled}, {6, kerr.TopicDeletionDisabled}} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = tt.version
		if tt.version < 6 {
			req.TopicNames = []string{"a", "b"}
		} else {
			name := "a"
			req.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}, {TopicID: [16]byte{9}}}
		}
		resp, err := b.handleDeleteTopics(context.Background(), &Request{Key: 20, Version: tt.version, Body: req})
		if err != nil {
			t.Fatalf("v%d: %v", tt.version, err)
		}
		topics := resp.(*kmsg.DeleteTopicsResponse).Topics
		if len(topics) != 2 {
			t.Fatalf("v%d: got %d results, want 2", tt.version, len(topics))
		}
		for _, r := range topics {
			if r.ErrorCode != tt.want.Code {
				t.Errorf("v%d %v: got code %d, want %s", tt.version, ptrString(r.Topic), r.ErrorCode, tt.want.Message)
			}
		}
	}
}
