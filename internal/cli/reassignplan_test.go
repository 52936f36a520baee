package cli

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// roundRobin places n partitions of rf replicas on brokers round robin, as
// the controller does, each of size bytes.
func roundRobin(n int, rf int, brokers []int32, size int64) []planPartition {
	parts := make([]planPartition, n)
	for i := range parts {
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = brokers[(i+j)%len(brokers)]
		}
		parts[i] = planPartition{topic: "t", partition: int32(i), replicas: replicas, size: size}
	}
	return parts
}

// applyPlan returns parts with the plan's replicas.
func applyPlan(parts []planPartition, plan reassignPlan) []planPartition {
	out := slices.Clone(parts)
	for _, rp := range plan.Partitions {
		for i := range out {
			if out[i].topic == rp.Topic && out[i].partition == rp.Partition {
				out[i].replicas = rp.Replicas
			}
		}
	}
	return out
}

// TestGeneratePlanGrow adds a fourth broker to 48 partitions of RF 3 on
// three: a quarter of the replicas (36 of 144) move to it, every broker
// ends with 36 replicas and 12 preferred leaderships, and no partition has
// a broker twice.
func TestGeneratePlanGrow(t *testing.T) {
	parts := roundRobin(48, 3, []int32{1, 2, 3}, 1<<20)
	plan, sum := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2, 3, 4}})
	if sum.moves != 36 {
		t.Errorf("moved %d replicas, want 36 (a quarter)", sum.moves)
	}
	after := loads(applyPlan(parts, plan))
	for _, b := range []int32{1, 2, 3, 4} {
		if l := after[b]; l.replicas != 36 || l.leaders != 12 {
			t.Errorf("broker %d: %d replicas, %d leaderships; want 36 and 12", b, l.replicas, l.leaders)
		}
	}
	checkDistinct(t, applyPlan(parts, plan))
	if sum.after[4].replicas != 36 || sum.before[4].replicas != 0 {
		t.Errorf("summary: broker 4 had %d, has %d", sum.before[4].replicas, sum.after[4].replicas)
	}
}

// TestGeneratePlanSkewed grows 12 partitions of RF 3 from three brokers
// to four when one partition holds nearly all the data, so bytes cannot
// even out: the replica and leadership counts still do.
func TestGeneratePlanSkewed(t *testing.T) {
	parts := roundRobin(12, 3, []int32{1, 2, 3}, 1<<10)
	parts[7].size = 1 << 30
	plan, sum := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2, 3, 4}})
	if sum.moves != 9 {
		t.Errorf("moved %d replicas, want 9", sum.moves)
	}
	after := applyPlan(parts, plan)
	checkDistinct(t, after)
	for b, l := range loads(after) {
		if l.replicas != 9 || l.leaders != 3 {
			t.Errorf("broker %d: %d replicas, %d leaderships; want 9 and 3", b, l.replicas, l.leaders)
		}
	}
}

// TestGeneratePlanBytes balances bytes, not only counts: two large
// partitions and many small ones end with the large ones apart.
func TestGeneratePlanBytes(t *testing.T) {
	parts := roundRobin(10, 1, []int32{1}, 1<<10)
	parts = append(parts, planPartition{topic: "big", partition: 0, replicas: []int32{1}, size: 1 << 30},
		planPartition{topic: "big", partition: 1, replicas: []int32{1}, size: 1 << 30})
	plan, _ := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2}})
	after := loads(applyPlan(parts, plan))
	if after[1].bytes < 1<<30 || after[2].bytes < 1<<30 {
		t.Errorf("bytes %d and %d: the two large partitions are not on different brokers", after[1].bytes, after[2].bytes)
	}
}

// TestGeneratePlanDecommission moves every replica off broker 3 and keeps
// each partition's replicas in different racks where the racks allow it.
func TestGeneratePlanDecommission(t *testing.T) {
	parts := roundRobin(12, 2, []int32{1, 2, 3}, 100)
	racks := map[int32]string{1: "a", 2: "b", 3: "b", 4: "a"}
	plan, _ := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2, 4}, racks: racks})
	after := applyPlan(parts, plan)
	checkDistinct(t, after)
	for _, p := range after {
		if slices.Contains(p.replicas, 3) {
			t.Errorf("%s-%d still on broker 3: %v", p.topic, p.partition, p.replicas)
		}
		if racks[p.replicas[0]] == racks[p.replicas[1]] {
			t.Errorf("%s-%d: replicas %v share rack %s", p.topic, p.partition, p.replicas, racks[p.replicas[0]])
		}
	}
}

// TestGeneratePlanEvacuateOnly moves the replicas of the broker leaving
// and nothing else.
func TestGeneratePlanEvacuateOnly(t *testing.T) {
	parts := roundRobin(12, 2, []int32{1, 2, 3, 4}, 100)
	plan, sum := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2, 3}, evacuateOnly: true})
	if sum.moves != 6 || len(plan.Partitions) != 6 {
		t.Errorf("moved %d replicas of %d partitions, want the 6 on broker 4", sum.moves, len(plan.Partitions))
	}
	for _, p := range applyPlan(parts, plan) {
		if slices.Contains(p.replicas, 4) {
			t.Errorf("%s-%d still on broker 4", p.topic, p.partition)
		}
	}
}

// TestGeneratePlanBalanced: a balanced cluster gets an empty plan.
func TestGeneratePlanBalanced(t *testing.T) {
	parts := roundRobin(30, 3, []int32{1, 2, 3}, 500)
	plan, sum := generatePlan(planInput{partitions: parts, brokers: []int32{1, 2, 3}})
	if len(plan.Partitions) != 0 || sum.moves != 0 {
		t.Errorf("got %d partitions to change, %d moves; want none", len(plan.Partitions), sum.moves)
	}
}

func checkDistinct(t *testing.T, parts []planPartition) {
	t.Helper()
	for _, p := range parts {
		for i, r := range p.replicas {
			if slices.Contains(p.replicas[:i], r) {
				t.Errorf("%s-%d: broker %d twice in %v", p.topic, p.partition, r, p.replicas)
			}
		}
	}
}

func TestParseReassignPlan(t *testing.T) {
	good := `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`
	p, err := parseReassignPlan([]byte(good))
	if err != nil || len(p.Partitions) != 1 || !slices.Equal(p.Partitions[0].Replicas, []int32{1, 2}) {
		t.Fatalf("got %+v, %v", p, err)
	}
	for in, want := range map[string]string{
		`{"version":2,"partitions":[]}`: "version 2",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`: "twice",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`:                                             "no replicas",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[3,3]}]}`:                                          "broker 3 twice",
		`nope`: "not a reassignment plan",
	} {
		if _, err := parseReassignPlan([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}

// FuzzParseReassignPlan: parseReassignPlan never panics, and a plan it
// accepts encodes to JSON it accepts again, unchanged.
func FuzzParseReassignPlan(f *testing.F) {
	f.Add([]byte(`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`))
	f.Add([]byte(`{"version":1,"partitions":[]}`))
	f.Add([]byte(`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[3,3]}]}`))
	f.Add([]byte(`nope`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseReassignPlan(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseReassignPlan(again)
		for _, x := range []*reassignPlan{&p, &q} {
			for i := range x.Partitions {
				if len(x.Partitions[i].LogDirs) == 0 {
					x.Partitions[i].LogDirs = nil // omitted when empty
				}
			}
		}
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("re-parsed %s: %+v, %v; want %+v", again, q, err, p)
		}
	})
}
