package partition

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
)

// TopicIDFile names the file in each partition directory that records the
// topic id the directory belongs to, as Kafka's partition.metadata does; a
// directory left from a deleted topic of the same name is told apart by it.
const TopicIDFile = "partition.metadata"

// openWorkers is how many replicas open at once: opening is mostly waiting
// for small file reads, so a start with thousands of partitions goes
// several times faster than one at a time.
const openWorkers = 8

// TopicPartition names one partition.
type TopicPartition struct {
	Topic string
	Index int32
}

// ISRProposer writes ISR changes to the metadata log (the controller's
// AlterPartitions).
type ISRProposer interface {
	AlterPartitions(ctx context.Context, changes []metadata.PartitionChange) error
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	NodeID   int32
	DataDir  string
	Settings config.Broker
	Clean    bool // the previous shutdown was clean
	Logger   *slog.Logger
	ISR      ISRProposer
	Fetch    FetchConfig
	// OnLeadership is called, on the reconciler's goroutine, when this
	// node starts (true) or stops (false) leading a partition; a replica
	// deleted while leading gets false first.
	OnLeadership func(tp TopicPartition, leader bool)
	// SkipDirs are names in DataDir that are not partitions.
	SkipDirs []string
}

// Manager holds this node's partition replicas and keeps them in step with
// the metadata image: Update hands it each new image and its reconciler
// goroutine opens, closes, deletes and converts replicas (leader, follower)
// from it, so that applying the metadata log never waits for a disk. It
// also runs the followers' fetchers, the leaders' ISR checks, and the timed
// work of every replica (retention, flushes, producer expiry, compaction).
type Manager struct {
	cfg    ManagerConfig
	logger *slog.Logger

	latest atomic.Pointer[metadata.Image] // the newest image handed to Update
	wake   chan struct{}
	begun  chan struct{} // closed by Begin
	isrDue chan struct{}
	fetch  *fetchers

	mu sync.RWMutex
	m  map[TopicPartition]*replica
	// failed holds the replicas that did not open (a damaged log, a disk
	// error), with why. They stay offline, answering KAFKA_STORAGE_ERROR,
	// until the broker restarts, as Kafka takes a failed log directory
	// offline; their data is left for the operator.
	failed map[TopicPartition]error
	// topics holds what each open topic was opened under: its id, its
	// overrides and the settings they resolve to (resolving them per
	// produce request was a third of the broker's allocations).
	topics map[string]topicState
	// settings are the broker settings in force as of the last reconcile:
	// the command line's with the dynamic ones of the metadata over them.
	settings config.Broker
	// leaderQuota and followerQuota are the replication throttles
	// (leader.replication.throttled.rate, follower.replication.throttled.rate),
	// cleanerQuota the cleaner's (log.cleaner.io.max.bytes.per.second).
	leaderQuota, followerQuota, cleanerQuota *Quota
	// settingsChanged wakes the cleaner when the dynamic settings change.
	settingsChanged chan struct{}

	isrShrinks, isrExpands atomic.Int64

	doneMu sync.Mutex
	done   uint64        // the image index reconciled
	doneCh chan struct{} // closed and replaced when done moves
	last   *metadata.Image
}

// replica is one open replica and what the manager knows of its role.
type replica struct {
	p       *Partition
	topicID [16]byte
	leading bool // as the reconciler last set it; its goroutine's alone
}

type topicState struct {
	id       [16]byte
	configs  map[string]string
	resolved config.Topic
}

// NewManager returns a manager with no replicas. It starts no goroutines;
// Run does.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Fetch.Logger == nil {
		cfg.Fetch.Logger = cfg.Logger.With("component", "replica-fetcher")
	}
	cfg.Fetch.Self = cfg.NodeID
	return &Manager{
		cfg:    cfg,
		logger: cfg.Logger,
		wake:   make(chan struct{}, 1),
		begun:  make(chan struct{}),
		isrDue: make(chan struct{}, 1),
		m:      map[TopicPartition]*replica{},
		failed: map[TopicPartition]error{},
		topics: map[string]topicState{},

		settings:        cfg.Settings,
		leaderQuota:     &Quota{},
		followerQuota:   &Quota{},
		cleanerQuota:    &Quota{},
		settingsChanged: make(chan struct{}, 1),
		doneCh:          make(chan struct{}),
	}
}

// Update hands the manager a new metadata image; it returns at once. It is
// meant to be a metadata.Store subscriber.
func (m *Manager) Update(_, img *metadata.Image) {
	m.latest.Store(img)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Begin lets the reconciler act on the images Update hands it. The broker
// calls it once the metadata log is caught up: a node replaying its log at
// start would otherwise lead, follow and open replicas by states long gone
// (as Kafka's brokers wait until they have caught up).
func (m *Manager) Begin() {
	select {
	case <-m.begun:
	default:
		close(m.begun)
	}
}

// Reconciled returns the index of the latest image reconciled.
func (m *Manager) Reconciled() uint64 {
	m.doneMu.Lock()
	defer m.doneMu.Unlock()
	return m.done
}

// WaitReconciled returns once an image at index or later is reconciled, or
// with ctx's error.
func (m *Manager) WaitReconciled(ctx context.Context, index uint64) error {
	for {
		m.doneMu.Lock()
		done, ch := m.done, m.doneCh
		m.doneMu.Unlock()
		if done >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run reconciles replicas with the images Update hands over and runs the
// replicas' background work until ctx ends; it returns once its goroutines
// have. Close closes the replicas afterwards.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	m.fetch = newFetchers(ctx, m.cfg.Fetch, m.followerQuota)
	wg.Go(func() { m.runISR(ctx) })
	wg.Go(func() { m.runBackground(ctx) })
	if m.cfg.Settings.LogCleanerEnable() {
		wg.Go(func() { m.runCleaner(ctx) })
	}
	select {
	case <-m.begun:
	case <-ctx.Done():
		wg.Wait()
		m.fetch.wait()
		return
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			m.fetch.wait()
			return
		case <-m.wake:
		}
		if img := m.latest.Load(); img != nil {
			m.reconcile(img)
		}
	}
}

// Get returns the open replica of topic/index; KAFKA_STORAGE_ERROR for one
// that failed to open, else UNKNOWN_TOPIC_OR_PARTITION.
func (m *Manager) Get(topic string, index int32) (*Partition, error) {
	tp := TopicPartition{topic, index}
	m.mu.RLock()
	r, failed := m.m[tp], m.failed[tp]
	m.mu.RUnlock()
	switch {
	case r != nil:
		return r.p, nil
	case failed != nil:
		return nil, fmt.Errorf("%s-%d is offline: %w: %w", topic, index, kerr.KafkaStorageError, failed)
	}
	return nil, kerr.UnknownTopicOrPartition
}

// Offline reports whether this node's replica of topic/index failed to open.
func (m *Manager) Offline(topic string, index int32) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.failed[TopicPartition{topic, index}] != nil
}

// LeaderQuota is the throttle of what this node's leaders send to throttled
// followers out of the ISR.
func (m *Manager) LeaderQuota() *Quota { return m.leaderQuota }

// TopicConfig returns the settings of topic t: those resolved when its
// replicas were last reconciled if its overrides are still the same, else
// resolved now.
func (m *Manager) TopicConfig(t *metadata.Topic) (config.Topic, error) {
	m.mu.RLock()
	st, ok := m.topics[t.Name]
	m.mu.RUnlock()
	if ok && st.id == t.ID && maps.Equal(st.configs, t.Configs) {
		return st.resolved, nil
	}
	return config.ResolveTopic(m.currentSettings(), t.Configs)
}

// currentSettings returns the broker settings in force as of the last
// reconcile.
func (m *Manager) currentSettings() config.Broker {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.settings
}

// Snapshot returns the open replicas.
func (m *Manager) Snapshot() map[TopicPartition]*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[TopicPartition]*Partition, len(m.m))
	for tp, r := range m.m {
		out[tp] = r.p
	}
	return out
}

// reconcile brings the replicas in line with img: deletes the replicas of
// topics and partitions gone or no longer on this node, opens new ones,
// applies changed configs, and makes each replica lead, follow or wait as
// the image says (a fenced broker leads nothing).
func (m *Manager) reconcile(img *metadata.Image) {
	self := m.cfg.NodeID
	fenced := !img.Unfenced(self)
	last := m.last
	settingsSame := last != nil && sameDynamic(last, img, self)
	brokersSame := last != nil && fenced == !last.Unfenced(self) && sameBrokers(last, img) && settingsSame
	settings := m.cfg.Settings.WithDynamic(img.BrokerConfigs(metadata.ClusterDefault), img.BrokerConfigs(self))
	m.removeGone(img)

	var todo []opening
	type roleWork struct {
		r *replica
		t *metadata.Topic
		p metadata.Partition
	}
	var roles []roleWork
	m.leaderQuota.SetRate(settings.LeaderThrottledRate())
	m.followerQuota.SetRate(settings.FollowerThrottledRate())
	m.cleanerQuota.SetRate(settings.LogCleanerIOMaxBytesPerSecond())
	m.mu.Lock()
	m.settings = settings
	for _, t := range img.Topics() {
		if brokersSame {
			if old, ok := last.Topic(t.Name); ok && old == t {
				continue // unchanged since the last reconcile
			}
		}
		cfg, err := config.ResolveTopic(settings, t.Configs)
		if err != nil {
			m.logger.Error("topic config", "topic", t.Name, "err", err)
			continue
		}
		lc := LogConfig(cfg)
		changed := !maps.Equal(m.topics[t.Name].configs, t.Configs) || !settingsSame
		m.topics[t.Name] = topicState{id: t.ID, configs: t.Configs, resolved: cfg}
		for _, part := range t.Partitions {
			tp := TopicPartition{t.Name, part.Index}
			if r, ok := m.m[tp]; ok {
				if changed {
					r.p.SetConfig(lc)
				}
				roles = append(roles, roleWork{r, t, part})
				continue
			}
			if _, failed := m.failed[tp]; failed || !part.HasReplica(self) {
				continue
			}
			todo = append(todo, opening{t: t, part: part, lc: lc})
		}
	}
	m.mu.Unlock()

	m.openAll(todo)
	m.mu.Lock()
	for _, o := range todo {
		tp := TopicPartition{o.t.Name, o.part.Index}
		if o.err != nil {
			m.logger.Error("open partition", "topic", o.t.Name, "partition", o.part.Index, "err", o.err)
			m.failed[tp] = o.err
			continue
		}
		r := &replica{p: o.p, topicID: o.t.ID}
		m.m[tp] = r
		roles = append(roles, roleWork{r, o.t, o.part})
	}
	m.mu.Unlock()

	now := time.Now()
	var gained, lost []TopicPartition
	for _, w := range roles {
		cfg := m.topics[w.t.Name].resolved
		w.r.p.SetThrottled(cfg.LeaderThrottled.Has(w.p.Index, self), cfg.FollowerThrottled.Has(w.p.Index, self))
		switch m.setRole(img, w.r, w.p, fenced, now) {
		case 1:
			gained = append(gained, TopicPartition{w.t.Name, w.p.Index})
		case -1:
			lost = append(lost, TopicPartition{w.t.Name, w.p.Index})
		}
	}
	m.logLeadership(gained, lost)
	if !settingsSame {
		select {
		case m.settingsChanged <- struct{}{}:
		default:
		}
	}
	m.last = img
	m.doneMu.Lock()
	m.done = img.AppliedIndex
	close(m.doneCh)
	m.doneCh = make(chan struct{})
	m.doneMu.Unlock()
}

// sameDynamic reports whether a and b hold the same dynamic settings for
// broker self and the cluster.
func sameDynamic(a, b *metadata.Image, self int32) bool {
	return maps.Equal(a.BrokerConfigs(metadata.ClusterDefault), b.BrokerConfigs(metadata.ClusterDefault)) &&
		maps.Equal(a.BrokerConfigs(self), b.BrokerConfigs(self))
}

// sameBrokers reports whether a and b register the same brokers alike.
func sameBrokers(a, b *metadata.Image) bool {
	return slices.EqualFunc(a.Brokers(), b.Brokers(), metadata.Broker.Equal)
}

// maxRoleLines is how many leadership changes of one reconcile are logged a
// line each at info level; more are summed up in one line.
const maxRoleLines = 20

// logLeadership logs the partitions this node started and stopped leading.
func (m *Manager) logLeadership(gained, lost []TopicPartition) {
	if len(gained)+len(lost) > maxRoleLines {
		m.logger.Info("leadership changes", "now_leading", len(gained), "no_longer_leading", len(lost))
		return
	}
	for _, tp := range gained {
		m.logger.Info("leading partition", "topic", tp.Topic, "partition", tp.Index)
	}
	for _, tp := range lost {
		m.logger.Info("no longer leading partition", "topic", tp.Topic, "partition", tp.Index)
	}
}

// setRole makes r lead, follow or wait as part says, and returns 1 when it
// starts leading, -1 when it stops, else 0.
func (m *Manager) setRole(img *metadata.Image, r *replica, part metadata.Partition, fenced bool, now time.Time) int {
	st := LeaderAndISR{Leader: part.Leader, LeaderEpoch: part.LeaderEpoch, PartitionEpoch: part.Epoch, Replicas: part.Replicas, ISR: part.ISR}
	tp := TopicPartition{r.p.Topic, r.p.Index}
	if part.Leader == m.cfg.NodeID && !fenced {
		m.fetch.unfollow(r.p)
		r.p.BecomeLeader(st, now)
		if r.leading {
			return 0
		}
		r.leading = true
		m.logger.Debug("leading partition", "topic", tp.Topic, "partition", tp.Index, "leader_epoch", part.LeaderEpoch, "isr", part.ISR)
		m.leadership(tp, true)
		return 1
	}
	if part.Leader == m.cfg.NodeID {
		st.Leader = -1 // fenced: wait for the controller to move or re-elect it
	}
	change := 0
	if r.leading {
		r.leading, change = false, -1
		m.logger.Debug("no longer leading partition", "topic", tp.Topic, "partition", tp.Index, "leader", st.Leader, "leader_epoch", part.LeaderEpoch)
		m.leadership(tp, false)
	}
	r.p.BecomeFollower(st)
	b, ok := img.Broker(st.Leader)
	if st.Leader == -1 || !ok {
		m.fetch.unfollow(r.p)
		return change
	}
	m.fetch.follow(r.p, st.Leader, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), part.LeaderEpoch)
	return change
}

func (m *Manager) leadership(tp TopicPartition, leader bool) {
	if m.cfg.OnLeadership != nil {
		m.cfg.OnLeadership(tp, leader)
	}
}

// removeGone deletes the replicas whose topic is gone (or re-created under
// a new id), whose partition is gone, or which this node no longer holds.
func (m *Manager) removeGone(img *metadata.Image) {
	m.mu.Lock()
	var gone []*replica
	for tp, r := range m.m {
		t, ok := img.Topic(tp.Topic)
		if ok && t.ID == r.topicID && int(tp.Index) < len(t.Partitions) && t.Partitions[tp.Index].HasReplica(m.cfg.NodeID) {
			continue
		}
		gone = append(gone, r)
		delete(m.m, tp)
	}
	for tp := range m.failed {
		t, ok := img.Topic(tp.Topic)
		if ok && t.ID == m.topics[tp.Topic].id && int(tp.Index) < len(t.Partitions) {
			continue
		}
		delete(m.failed, tp)
	}
	for name, st := range m.topics {
		if t, ok := img.Topic(name); !ok || t.ID != st.id {
			delete(m.topics, name)
		}
	}
	m.mu.Unlock()
	for _, r := range gone {
		m.fetch.unfollow(r.p) // all of them before the first slow delete
	}
	for _, r := range gone {
		tp := TopicPartition{r.p.Topic, r.p.Index}
		if r.leading {
			m.leadership(tp, false)
		}
		if err := r.p.Delete(); err != nil {
			m.logger.Error("delete partition", "topic", tp.Topic, "partition", tp.Index, "err", err)
		}
	}
}

// opening is a replica to open, and the outcome.
type opening struct {
	t    *metadata.Topic
	part metadata.Partition
	lc   commitlog.Config
	p    *Partition
	err  error
}

// openAll opens the replicas of todo concurrently, filling in p or err.
func (m *Manager) openAll(todo []opening) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(openWorkers, len(todo)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(todo); i = int(next.Add(1) - 1) {
				o := &todo[i]
				o.p, o.err = m.open(o.t, o.part, o.lc)
			}
		})
	}
	wg.Wait()
}

// Dir returns the directory of a partition's replica.
func Dir(dataDir, topic string, index int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(index)))
}

// open opens one replica, first removing a directory left by an earlier
// topic of the same name.
func (m *Manager) open(t *metadata.Topic, part metadata.Partition, lc commitlog.Config) (*Partition, error) {
	dir := Dir(m.cfg.DataDir, t.Name, part.Index)
	idFile := filepath.Join(dir, TopicIDFile)
	want := hex.EncodeToString(t.ID[:])
	data, err := os.ReadFile(idFile)
	known := err == nil && strings.TrimSpace(string(data)) == want
	if err == nil && !known {
		m.logger.Info("removing data of an earlier topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	logger := m.logger.With("topic", t.Name, "partition", part.Index)
	p, err := Open(dir, t.Name, part.Index, lc, Options{
		Logger: logger, Clean: m.cfg.Clean, Self: m.cfg.NodeID, OnFollowerCaughtUp: m.checkISRSoon,
	})
	if err != nil {
		return nil, err
	}
	if known {
		return p, nil
	}
	if err := os.WriteFile(idFile, []byte(want+"\n"), 0o644); err != nil {
		p.Close()
		return nil, fmt.Errorf("write %s: %w", TopicIDFile, err)
	}
	return p, nil
}

// RemoveOrphans deletes partition directories no topic in the image owns
// (topics deleted while this node was down): those of neither an open
// replica nor one that failed to open.
func (m *Manager) RemoveOrphans() error {
	entries, err := os.ReadDir(m.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("read data directory: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, e := range entries {
		if !e.IsDir() || slices.Contains(m.cfg.SkipDirs, e.Name()) {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		idx, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
		if err != nil {
			continue
		}
		tp := TopicPartition{e.Name()[:i], int32(idx)}
		if _, open := m.m[tp]; open || m.failed[tp] != nil {
			continue // a replica that failed to open keeps its data
		}
		if _, err := os.Stat(filepath.Join(m.cfg.DataDir, e.Name(), TopicIDFile)); err != nil {
			continue // not ours
		}
		if img := m.latest.Load(); img != nil {
			if t, ok := img.Topic(tp.Topic); ok && int(tp.Index) < len(t.Partitions) {
				continue // a replica of a live topic this node does not hold: left alone
			}
		}
		m.logger.Info("removing data of a deleted topic", "dir", e.Name())
		if err := os.RemoveAll(filepath.Join(m.cfg.DataDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// checkISRSoon asks the ISR loop for a round now.
func (m *Manager) checkISRSoon() {
	select {
	case m.isrDue <- struct{}{}:
	default:
	}
}

// runISR proposes the ISR changes leaders decide, each round: every half
// replica.lag.time.max.ms (at most a second apart), and whenever a follower
// catches up.
func (m *Manager) runISR(ctx context.Context) {
	lag := m.cfg.Settings.ReplicaLagTimeMax()
	t := time.NewTicker(min(lag/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.isrDue:
		}
		m.proposeISRChanges(ctx, lag)
	}
}

// proposeISRChanges asks every leader replica for an ISR change and
// proposes them together.
func (m *Manager) proposeISRChanges(ctx context.Context, lag time.Duration) {
	img := m.latest.Load()
	if img == nil || m.cfg.ISR == nil {
		return
	}
	now := time.Now()
	m.mu.RLock()
	var changes []metadata.PartitionChange
	var parts []*Partition
	var shrinks, expands int64
	for _, r := range m.m {
		c, reason, ok := r.p.isrProposal(now, lag, img.Unfenced)
		if !ok {
			continue
		}
		c.TopicID = r.topicID
		m.logger.Info("ISR change", "topic", r.p.Topic, "partition", r.p.Index, "isr", c.ISR, "reason", reason)
		changes = append(changes, c)
		parts = append(parts, r.p)
		if t, ok := img.TopicByID(c.TopicID); ok && int(c.Partition) < len(t.Partitions) {
			for _, id := range t.Partitions[c.Partition].ISR {
				if !slices.Contains(c.ISR, id) {
					shrinks++
					break
				}
			}
			for _, id := range c.ISR {
				if !t.Partitions[c.Partition].InISR(id) {
					expands++
					break
				}
			}
		}
	}
	m.mu.RUnlock()
	if len(changes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.cfg.ISR.AlterPartitions(ctx, changes); err != nil {
		m.logger.Info("ISR change not made; deciding again", "partitions", len(changes), "err", err)
		for _, p := range parts {
			p.isrProposalFailed()
		}
		return
	}
	m.isrShrinks.Add(shrinks)
	m.isrExpands.Add(expands)
}

// Stats are the replicas' replication figures, for metrics.
type Stats struct {
	Replicas        int
	Leaders         int
	UnderReplicated int   // led here, with an ISR smaller than the replicas
	MaxFollowerLag  int64 // the largest lag of a replica following another broker, in records
	ISRShrinks      int64 // ISR changes this node's leaders made that removed a replica
	ISRExpands      int64 // and that added one
}

// Stats returns the replicas' replication figures.
func (m *Manager) Stats() Stats {
	st := Stats{ISRShrinks: m.isrShrinks.Load(), ISRExpands: m.isrExpands.Load()}
	for _, p := range m.Snapshot() {
		r := p.Replication()
		st.Replicas++
		if r.Leading {
			st.Leaders++
		}
		if r.UnderReplicated {
			st.UnderReplicated++
		}
		st.MaxFollowerLag = max(st.MaxFollowerLag, r.Lag)
	}
	return st
}

// runBackground enforces retention, time-based flushes and rolls, and
// producer id expiry until ctx ends.
func (m *Manager) runBackground(ctx context.Context) {
	s := m.cfg.Settings
	retention := time.NewTicker(s.RetentionCheckInterval())
	defer retention.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	expiry := time.NewTicker(s.ProducerIDExpirationCheckInterval())
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retention.C:
			m.each(ctx, "retention", (*Partition).EnforceRetention)
		case <-expiry.C:
			now, idle, removed := time.Now().UnixMilli(), m.currentSettings().ProducerIDExpiration().Milliseconds(), 0
			m.each(ctx, "", func(p *Partition) error { removed += p.ExpireProducers(now, idle); return nil })
			if removed > 0 {
				m.logger.Debug("expired idle producer ids", "count", removed)
			}
		case <-tick.C:
			m.each(ctx, "flush", (*Partition).Tick)
		}
	}
}

// each runs fn on every replica until ctx ends (a stop need not wait for a
// round over thousands of them), logging its errors as what.
func (m *Manager) each(ctx context.Context, what string, fn func(*Partition) error) {
	for tp, p := range m.Snapshot() {
		if ctx.Err() != nil {
			return
		}
		if err := fn(p); err != nil {
			m.logger.Error(what, "topic", tp.Topic, "partition", tp.Index, "err", err)
		}
	}
}

// runCleaner runs rounds of compaction, log.cleaner.backoff.ms apart, until
// ctx ends. Each round reads the settings in force, and a change of the
// dynamic settings starts the next round at once, as Kafka restarts its
// cleaner threads on a change of theirs.
func (m *Manager) runCleaner(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.settingsChanged:
		}
		s := m.currentSettings()
		m.cleanRound(ctx, s.LogCleanerThreads(), cleanOptions(s, m.cleanerQuota))
		t.Reset(s.LogCleanerBackoff())
	}
}

// cleanRound runs one compaction pass on every replica that is due,
// threads of them at once (log.cleaner.threads), until ctx ends.
func (m *Manager) cleanRound(ctx context.Context, threads int, opts commitlog.CleanOptions) {
	forEachAtOnce(ctx, m.Snapshot(), threads, func(tp TopicPartition, p *Partition) {
		stats, err := p.Clean(ctx, opts)
		switch {
		case err != nil && ctx.Err() == nil:
			m.logger.Error("compaction", "topic", tp.Topic, "partition", tp.Index, "err", err)
		case stats.SegmentsCleaned > 0:
			m.logger.Debug("compacted", "topic", tp.Topic, "partition", tp.Index, "segments", stats.SegmentsCleaned,
				"bytes_before", stats.BytesBefore, "bytes_after", stats.BytesAfter, "records_removed", stats.RecordsRemoved)
		}
	})
}

// forEachAtOnce calls fn on each replica of parts, at most n calls at once,
// and returns when they have; it starts none once ctx has ended.
func forEachAtOnce(ctx context.Context, parts map[TopicPartition]*Partition, n int, fn func(TopicPartition, *Partition)) {
	slots := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for tp, p := range parts {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			fn(tp, p)
		})
	}
	wg.Wait()
}

// cleanOptions maps the broker's log.cleaner.* settings to a pass's. As in
// Kafka, the dedupe and I/O buffer sizes are totals shared by the cleaner
// threads, the I/O buffer is half for reading and half for writing, and a
// key map stops at the load factor of its share; throttle is shared too.
func cleanOptions(s config.Broker, throttle *Quota) commitlog.CleanOptions {
	threads := int64(s.LogCleanerThreads())
	return commitlog.CleanOptions{
		DedupeBufferBytes: max(int64(float64(s.LogCleanerDedupeBufferSize()/threads)*s.LogCleanerDedupeBufferLoadFactor()), 1),
		IOBufferBytes:     max(s.LogCleanerIOBufferSize()/threads/2, 1),
		Throttle:          throttle,
	}
}

// Close closes every replica, syncing the data directory's file system
// as a whole (CloseAll): one fsync per file made a clean stop with 10,000
// partitions take seconds. Run must have returned.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := make([]*Partition, 0, len(m.m))
	for _, r := range m.m {
		parts = append(parts, r.p)
	}
	clear(m.m)
	if err := CloseAll(parts); err != nil {
		return fmt.Errorf("close partitions: %w", err)
	}
	return nil
}

// LogConfig maps Kafka-named topic settings to the storage engine's.
// Retention applies only where cleanup.policy includes delete.
func LogConfig(t config.Topic) commitlog.Config {
	c := commitlog.Config{
		SegmentBytes:       t.SegmentBytes,
		SegmentMs:          t.SegmentMs,
		SegmentJitterMs:    t.SegmentJitterMs,
		RetentionMs:        t.RetentionMs,
		RetentionBytes:     t.RetentionBytes,
		IndexIntervalBytes: t.IndexIntervalBytes,
		SegmentIndexBytes:  t.SegmentIndexBytes,
		FlushMessages:      t.FlushMessages,
		FlushMs:            t.FlushMs,
		FileDeleteDelayMs:  t.FileDeleteDelayMs,
		Preallocate:        t.Preallocate,

		Compact:                t.CleanupCompact,
		DeleteRetentionMs:      t.DeleteRetentionMs,
		MinCleanableDirtyRatio: t.MinCleanableDirtyRatio,
		MinCompactionLagMs:     t.MinCompactionLagMs,
		MaxCompactionLagMs:     t.MaxCompactionLagMs,
	}
	if !t.CleanupDelete {
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	return c
}
