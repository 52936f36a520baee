#!/usr/bin/python3
"""Consumer group compatibility check of a Strata broker with a Python client.

Run with Debian's interpreter, against a running broker started with
group.initial.rebalance.delay.ms=0 and group.min.session.timeout.ms=500:

    /usr/bin/python3 test/compat/python_groups.py --bootstrap 127.0.0.1:PORT[,...] \
        --client confluent|kafka-python [--assignor range|cooperative-sticky] \
        [--records 30000] [--replication-factor 3]

The bootstrap may list every broker of a cluster, comma-separated; the topic
is created with --replication-factor replicas (default 1).

Checks, each reported on its own line as "PASS ..." or "FAIL ...":

group    creates a 12-partition topic with the client's admin API, produces
         --records records with distinct keys and values, and consumes them
         with a group of three members (a thread each) that commit manually
         and synchronously: before partitions are revoked, before closing
         and (not under cooperative-sticky, see Member) every second.
         A starts alone; B and C join once A has consumed something; A
         leaves (close) at about two thirds; B and C finish. Every record
         must be consumed exactly once overall.
offsets  the committed offsets read back through the client (confluent:
         Consumer.committed; kafka-python: KafkaAdminClient.
         list_consumer_group_offsets and KafkaConsumer.committed) equal the
         log end offsets, and ListGroups and DescribeGroups show the group,
         empty.
rebalance a survivor shares a second group with a member in a subprocess,
         which is SIGKILLed: the time until the survivor owns every
         partition is measured (the coordinator must expire the dead member
         after its session timeout); likewise after a second subprocess
         member closes cleanly (LeaveGroup).
delete   (kafka-python only; confluent-kafka 1.7 has no DeleteGroups) the
         empty groups are deleted and no longer listed.

A client log line of librdkafka's PROTOERR facility (a response it could not
parse) adds a FAIL line. Details of failures go to stderr. Exit status 0 if
every check passed, 1 otherwise.

With --member GROUP --topic TOPIC it is the subprocess member: it prints
"owned N" when the number of partitions it owns changes, and closes cleanly
on "close" or end of input on stdin.
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from python_clients import ClientLog, Failures, wait_until  # noqa: E402 (this directory)

CLIENTS = ("confluent", "kafka-python")
ASSIGNORS = ("range", "cooperative-sticky")
PARTITIONS = 12
SESSION_MS = 6000  # session timeout of every member: the kill check waits about this long
HEARTBEAT_MS = 500
GROUP_DEADLINE = 90  # seconds the three-member run may take
COMMIT_EVERY = 1.0  # seconds between a member's periodic commits
STOP_COMMIT_LIMIT = 10  # seconds a closing member retries a refused last commit
KILL_SLACK = 10  # seconds beyond the session timeout the coordinator may take to expire a member
LEAVE_LIMIT = 5  # seconds a clean leave may take to hand its partitions over


def value(i):
    """The distinct value of record i."""
    return b"v-%d-%08x" % (i, (i * 2654435761) & 0xFFFFFFFF)


class Tracker:
    """Counts every record consumed by any member; a record consumed twice or
    one that is not what was produced is a failure."""

    def __init__(self, records, fail):
        self.records = records
        self.fail = fail
        self.lock = threading.Lock()
        self.seen = bytearray(records)
        self.unique = 0
        self.duplicates = 0
        self.by_member = {}

    def record(self, member, partition, offset, key, val):
        where = f"{member}: partition {partition} offset {offset}"
        try:
            i = int(key[2:]) if key and key.startswith(b"k-") else -1
        except ValueError:
            i = -1
        with self.lock:
            self.by_member[member] = self.by_member.get(member, 0) + 1
            if not 0 <= i < self.records:
                self.fail.add(f"{where}: unexpected key {key!r}")
                return
            if self.seen[i]:
                self.duplicates += 1
                self.fail.add(f"{where}: record {i} consumed again (duplicate)")
                return
            self.seen[i] = 1
            self.unique += 1
        if partition != i % PARTITIONS:
            self.fail.add(f"{where}: record {i} in partition {partition}, want {i % PARTITIONS}")
        if val != value(i):
            self.fail.add(f"{where}: record {i} value {val!r}, want {value(i)!r}")

    def missing(self):
        with self.lock:
            return self.records - self.unique, self.seen.find(0)


class Member:
    """One group member on its own thread: polls, hands records to on_record,
    and keeps the set of partitions it owns. With commits it commits
    synchronously what it processed when partitions are revoked, before
    closing and, with periodic, every COMMIT_EVERY seconds. rate, if set, caps
    the records per second it processes so that the group has time to change
    while records remain.

    Periodic commits are off under cooperative-sticky: librdkafka before 2.10
    drops its whole assignment as lost when a commit made while the group
    rebalances gets ILLEGAL_GENERATION (librdkafka issue 4059), which an
    incremental rebalance, where members keep consuming, makes likely."""

    def __init__(self, name, driver, fail, on_record=None, rate=None, on_owned=None,
                 commits=True, periodic=True):
        self.name = name
        self.commits = commits
        self.periodic = commits and periodic
        self.driver = driver
        self.fail = fail
        self.on_record = on_record
        self.rate = rate
        self.on_owned = on_owned
        self.lock = threading.Lock()
        self.owned = set()
        self.full_since = None  # monotonic time the member came to own every partition
        self.processed = {}  # partition -> next offset to process, for owned partitions
        self.committed = {}  # partition -> last offset this member committed
        self.consumed = 0
        self.refused = []  # errors of refused periodic or closing commits, retried
        self.stopping = threading.Event()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self.thread.start()

    def request_stop(self):
        """Asks the member to commit and close; see join."""
        self.stopping.set()

    def stop(self):  # request_stop, then join
        self.request_stop()
        self.join()

    def join(self, timeout=30):
        """Waits for the member to close."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.fail.add(f"{self.name}: did not close within {timeout}s")

    def owned_count(self):
        with self.lock:
            return len(self.owned)

    def _set_owned(self, add=(), remove=()):
        with self.lock:
            self.owned |= set(add)
            self.owned -= set(remove)
            n = len(self.owned)
            if n == PARTITIONS:
                if self.full_since is None:
                    self.full_since = time.monotonic()
            else:
                self.full_since = None
        if self.on_owned:
            self.on_owned(n)

    # Rebalance callbacks, called by the driver on the member's thread.

    def assigned(self, parts):
        self._set_owned(add=parts)

    def revoked(self, parts):
        try:
            self._commit(parts)
        except Exception as e:  # a failed commit-before-revoke means duplicates follow
            self.fail.add(f"{self.name}: commit before revoking {sorted(parts)}: {e!r}")
        for p in parts:
            self.processed.pop(p, None)
        self._set_owned(remove=parts)

    def lost(self, parts):
        self.fail.add(f"{self.name}: partitions {sorted(parts)} lost "
                      "(fenced: session expired or generation no longer valid)")
        for p in parts:
            self.processed.pop(p, None)
        self._set_owned(remove=parts)

    def _commit(self, parts=None):
        if not self.commits:
            return
        offs = {p: o for p, o in self.processed.items()
                if (parts is None or p in parts) and self.committed.get(p) != o}
        if offs:
            self.driver.commit(offs)
            self.committed.update(offs)

    def _run(self):
        try:
            self.driver.subscribe(self)
            last_commit = time.monotonic()
            budget_at = time.monotonic()  # when the rate cap next allows processing
            stop_deadline = None
            while True:
                for p, off, key, val in self.driver.poll(200, 0.1):
                    if self.on_record:
                        self.on_record(self.name, p, off, key, val)
                    self.processed[p] = off + 1
                    self.consumed += 1
                    if self.rate:
                        budget_at += 1 / self.rate
                now = time.monotonic()
                if self.stopping.is_set():
                    # The last commit; a refusal (the group is rebalancing) is
                    # retried after polling again, until STOP_COMMIT_LIMIT.
                    stop_deadline = stop_deadline or now + STOP_COMMIT_LIMIT
                    if self._try_commit(final=now >= stop_deadline):
                        break
                elif self.periodic and now - last_commit >= COMMIT_EVERY:
                    self._try_commit()
                    last_commit = now
                if self.rate:
                    budget_at = max(budget_at, now - 0.1)
                    time.sleep(min(max(0.0, budget_at - now), 0.2))
        except Exception as e:  # any client exception is a failure of this member
            traceback.print_exc(file=sys.stderr)
            self.fail.add(f"{self.name}: {type(e).__name__}: {e}")
        finally:
            try:
                self.driver.close()
            except Exception as e:  # reported, the member is gone either way
                self.fail.add(f"{self.name}: close: {type(e).__name__}: {e}")
            self.closed.set()

    def _try_commit(self, final=False):
        """Commits what was processed. A periodic commit may be refused while
        the group rebalances (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION when
        the member has not yet seen the new generation): that is noted and
        retried; the commit before a revoke is the one that must succeed.
        final makes a refusal a failure. Returns whether the commit succeeded."""
        try:
            self._commit()
            return True
        except Exception as e:  # the client's commit error, noted or failed below
            self.refused.append(repr(e))
            if final:
                self.fail.add(f"{self.name}: last commit before closing: {e!r}")
                return True
            print(f"{self.name}: note: commit refused, will retry: {e!r}", file=sys.stderr, flush=True)
            return False


class ConfluentDriver:
    """A python3-confluent-kafka consumer in a group."""

    def __init__(self, client, group, name, assignor):
        ck = client.ck
        self.ck = ck
        self.topic = client.topic
        self.c = ck.Consumer(client.conf({
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": assignor,
            "session.timeout.ms": SESSION_MS,
            "heartbeat.interval.ms": HEARTBEAT_MS,
        }))

    def subscribe(self, member):
        def parts(ps):
            return {p.partition for p in ps}
        # With on_assign/on_revoke set, confluent-kafka (un)assigns after the
        # callback, incrementally under cooperative-sticky.
        self.c.subscribe([self.topic],
                         on_assign=lambda c, ps: member.assigned(parts(ps)),
                         on_revoke=lambda c, ps: member.revoked(parts(ps)),
                         on_lost=lambda c, ps: member.lost(parts(ps)))

    def poll(self, n, timeout):
        """Up to n messages, waiting at most timeout for the first.

        One Consumer.poll per message, not the batch Consumer.consume:
        librdkafka before 2.1.0 (Debian 12 has 2.0.2) can drop messages it
        has already fetched for a partition the member keeps through an
        incremental rebalance when they are read with the batch API (its
        pause and resume around the rebalance outdate them, and fetching
        resumes after them; librdkafka #4208), so a cooperative-sticky member
        never sees them although no other member gets them either."""
        out = []
        m = self.c.poll(timeout)
        while m is not None:
            if m.error():
                raise self.ck.KafkaException(m.error())
            out.append((m.partition(), m.offset(), m.key(), m.value()))
            if len(out) >= n:
                break
            m = self.c.poll(0)
        return out

    def commit(self, offsets):
        TP = self.ck.TopicPartition
        res = self.c.commit(offsets=[TP(self.topic, p, o) for p, o in offsets.items()],
                            asynchronous=False)
        bad = [f"{tp.partition}: {tp.error}" for tp in res or [] if tp.error is not None]
        if bad:
            raise RuntimeError("commit failed for partitions " + ", ".join(bad))

    def close(self):
        self.c.close()


class KafkaPythonDriver:
    """A python3-kafka (kafka-python) consumer in a group."""

    def __init__(self, client, group, name, assignor):
        kafka = client.kafka
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        if assignor != "range":
            raise ValueError(f"kafka-python 2.0 has no {assignor} assignor")
        self.kafka = kafka
        self.topic = client.topic
        self.c = kafka.KafkaConsumer(
            bootstrap_servers=client.bootstrap,
            group_id=group,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[RangePartitionAssignor],
            session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
        )

    def subscribe(self, member):
        class Listener(self.kafka.ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                member.revoked({tp.partition for tp in revoked})

            def on_partitions_assigned(self, assigned):
                member.assigned({tp.partition for tp in assigned})

        self.c.subscribe([self.topic], listener=Listener())

    def poll(self, n, timeout):
        out = []
        for recs in self.c.poll(timeout_ms=int(timeout * 1000), max_records=n).values():
            out.extend((r.partition, r.offset, r.key, r.value) for r in recs)
        return out

    def commit(self, offsets):
        OM = self.kafka.structs.OffsetAndMetadata
        TP = self.kafka.TopicPartition
        self.c.commit({TP(self.topic, p): OM(o, "") for p, o in offsets.items()})

    def close(self):
        self.c.close(autocommit=False)


class ConfluentClient:
    """Admin, producer and group reads through python3-confluent-kafka."""

    Driver = ConfluentDriver  # a group member's consumer

    def __init__(self, bootstrap, topic, client_log, replication_factor=1):
        import confluent_kafka
        from confluent_kafka import admin
        self.ck = confluent_kafka
        self.admin_mod = admin
        self.bootstrap = bootstrap
        self.topic = topic
        self.replication_factor = replication_factor
        self.logger = logging.getLogger("compat.librdkafka")
        self.logger.setLevel(logging.WARNING)
        self.logger.addHandler(client_log)
        self.admin = admin.AdminClient(self.conf({}))

    def conf(self, conf):
        return {"bootstrap.servers": self.bootstrap, "logger": self.logger, **conf}

    def version(self):
        return f"confluent-kafka {self.ck.version()[0]} librdkafka {self.ck.libversion()[0]}"

    def create_topic(self):
        fs = self.admin.create_topics(
            [self.admin_mod.NewTopic(self.topic, num_partitions=PARTITIONS,
                                     replication_factor=self.replication_factor)],
            operation_timeout=10, request_timeout=15)
        fs[self.topic].result(timeout=20)

    def led_partitions(self):
        t = self.admin.list_topics(topic=self.topic, timeout=5).topics.get(self.topic)
        if t is None or t.error is not None:
            return 0
        return sum(1 for p in t.partitions.values() if p.leader >= 0)

    def produce(self, records, timeout):
        p = self.ck.Producer(self.conf({"acks": "all", "linger.ms": 5,
                                        "message.timeout.ms": int(timeout * 1000)}))
        failed = []

        def on_delivery(err, msg):
            if err is not None:
                failed.append(f"{msg.key()!r}: {err}")

        for i in range(records):
            while True:
                try:
                    p.produce(self.topic, key=b"k-%d" % i, value=value(i),
                              partition=i % PARTITIONS, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 1000 == 0:
                p.poll(0)
        left = p.flush(timeout)
        if left or failed:
            raise RuntimeError(f"{left} records undelivered, {len(failed)} failed "
                               f"(first: {failed[:1]})")

    def _plain_consumer(self, group):
        return self.ck.Consumer(self.conf({"group.id": group, "enable.auto.commit": False}))

    def end_offsets(self):
        c = self._plain_consumer("compat-watermarks-" + uuid.uuid4().hex[:8])
        try:
            TP = self.ck.TopicPartition
            return {p: c.get_watermark_offsets(TP(self.topic, p), timeout=10, cached=False)[1]
                    for p in range(PARTITIONS)}
        finally:
            c.close()

    def committed(self, group):
        """{"Consumer.committed": {partition: committed offset or None}}."""
        c = self._plain_consumer(group)
        try:
            TP = self.ck.TopicPartition
            got = c.committed([TP(self.topic, p) for p in range(PARTITIONS)], timeout=10)
            out = {}
            for tp in got:
                if tp.error is not None:
                    raise RuntimeError(f"committed partition {tp.partition}: {tp.error}")
                out[tp.partition] = tp.offset if tp.offset >= 0 else None
            return {"Consumer.committed": out}
        finally:
            c.close()

    def listed_groups(self):
        return {g.id for g in self.admin.list_groups(timeout=10)}

    def describe(self, group):
        """(state, protocol type, number of members) by DescribeGroups."""
        (g,) = self.admin.list_groups(group=group, timeout=10)
        if g.error is not None:
            raise RuntimeError(f"describe group {group}: {g.error}")
        return g.state, g.protocol_type, len(g.members)

    def delete_groups(self, groups):
        return None  # confluent-kafka 1.7 has no DeleteGroups


class KafkaPythonClient:
    """Admin, producer and group reads through python3-kafka."""

    Driver = KafkaPythonDriver  # a group member's consumer

    def __init__(self, bootstrap, topic, client_log, replication_factor=1):
        import kafka
        from kafka import admin
        logging.getLogger("kafka").addHandler(client_log)
        self.kafka = kafka
        self.admin_mod = admin
        self.bootstrap = bootstrap
        self.topic = topic
        self.replication_factor = replication_factor
        self.admin = admin.KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)

    def version(self):
        return f"kafka-python {self.kafka.__version__}"

    def create_topic(self):
        self.admin.create_topics(
            [self.admin_mod.NewTopic(self.topic, num_partitions=PARTITIONS,
                                     replication_factor=self.replication_factor)],
            timeout_ms=10000)

    def led_partitions(self):
        (t,) = self.admin.describe_topics([self.topic])
        if t["error_code"] != 0:
            return 0
        return sum(1 for p in t["partitions"] if p["leader"] >= 0)

    def produce(self, records, timeout):
        p = self.kafka.KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                     batch_size=256 * 1024, max_block_ms=int(timeout * 1000))
        try:
            futures = [p.send(self.topic, key=b"k-%d" % i, value=value(i), partition=i % PARTITIONS)
                       for i in range(records)]
            p.flush(timeout=timeout)
            bad = [i for i, f in enumerate(futures) if not f.is_done or f.failed()]
            if bad:
                f = futures[bad[0]]
                raise RuntimeError(f"{len(bad)} records undelivered or failed "
                                   f"(first: record {bad[0]}: {f.exception!r})")
        finally:
            p.close(timeout=5)

    def _plain_consumer(self, group):
        return self.kafka.KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group,
                                        enable_auto_commit=False)

    def end_offsets(self):
        c = self._plain_consumer(None)
        try:
            TP = self.kafka.TopicPartition
            got = c.end_offsets([TP(self.topic, p) for p in range(PARTITIONS)])
            return {tp.partition: off for tp, off in got.items()}
        finally:
            c.close()

    def committed(self, group):
        """{API name: {partition: committed offset or None}} by the admin
        client's OffsetFetch and by KafkaConsumer.committed."""
        got = self.admin.list_consumer_group_offsets(group)
        by_admin = {tp.partition: om.offset if om.offset >= 0 else None
                    for tp, om in got.items() if tp.topic == self.topic}
        c = self._plain_consumer(group)
        try:
            TP = self.kafka.TopicPartition
            by_consumer = {p: c.committed(TP(self.topic, p)) for p in range(PARTITIONS)}
        finally:
            c.close()
        return {"KafkaAdminClient.list_consumer_group_offsets": by_admin,
                "KafkaConsumer.committed": by_consumer}

    def listed_groups(self):
        return {g for g, _ in self.admin.list_consumer_groups()}

    def describe(self, group):
        (g,) = self.admin.describe_consumer_groups([group])
        if g.error_code != 0:
            raise RuntimeError(f"describe group {group}: error code {g.error_code}")
        return g.state, g.protocol_type, len(g.members)

    def delete_groups(self, groups):
        """Deletes groups; returns {group: error class or None}."""
        return {g: (None if err.errno == 0 else err.__name__)
                for g, err in self.admin.delete_consumer_groups(groups)}


class SubprocessMember:
    """A group member in a child process running this script with --member;
    its stderr is this process's."""

    def __init__(self, args, group, topic, fail):
        self.fail = fail
        self.owned = 0
        cmd = [sys.executable, os.path.abspath(__file__), "--bootstrap", args.bootstrap,
               "--client", args.client, "--assignor", args.assignor,
               "--member", group, "--topic", topic]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.closed = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            word, _, n = line.strip().partition(" ")
            if word == "owned":
                self.owned = int(n)
            elif word == "closed":
                self.closed.set()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self):
        """Asks the child to close cleanly; returns without waiting."""
        self.proc.stdin.write("close\n")
        self.proc.stdin.flush()

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail.add(f"member subprocess {self.proc.pid} still running {timeout}s after close")
            self.kill()


def run_member(args):
    """The --member mode: one member until "close" arrives on stdin."""
    fail = Failures(f"member {os.getpid()}")
    log = ClientLog(f"member {os.getpid()}")
    cls = ConfluentClient if args.client == "confluent" else KafkaPythonClient
    client = cls(args.bootstrap, args.topic, log)

    def owned(n):
        print(f"owned {n}", flush=True)

    driver = client.Driver(client, args.member, "killable", args.assignor)
    m = Member(f"member-{os.getpid()}", driver, fail, on_owned=owned, commits=False)
    m.start()
    for line in sys.stdin:
        if line.strip() == "close":
            break
    m.stop()
    print("closed", flush=True)
    return 1 if fail.count else 0


def check_group(args, client, label):
    """Steps 1 and 2: the three-member run. Returns (line, group id)."""
    fail = Failures(f"{label} group")
    group = f"compat-groups-{args.client}-{args.assignor}-{uuid.uuid4().hex[:8]}"
    tracker = Tracker(args.records, fail)
    rate = max(args.records / 12, 50)  # per member: the run lasts several seconds
    members = {}

    def member(name):
        m = Member(name, client.Driver(client, group, name, args.assignor), fail,
                   on_record=tracker.record, rate=rate,
                   periodic=args.assignor != "cooperative-sticky")
        members[name] = m
        m.start()
        return m

    t0 = time.monotonic()
    deadline = t0 + GROUP_DEADLINE

    def reached(cond):
        """Waits for cond until the deadline; a run that stalls falls through
        to the count of missing records."""
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)

    a = member("A")
    reached(lambda: tracker.unique > 0)
    at_join = tracker.unique
    member("B")
    member("C")
    reached(lambda: tracker.unique >= args.records * 2 // 3)
    at_leave = tracker.unique
    a.stop()
    reached(lambda: tracker.unique >= args.records)
    consumed_s = time.monotonic() - t0
    time.sleep(1)  # a late duplicate (re-delivery after a rebalance) would show up here
    for name in ("B", "C"):  # together: neither's leave rebalances the other's last commit
        members[name].request_stop()
    for name in ("B", "C"):
        members[name].join()
    missing, first = tracker.missing()
    if missing:
        fail.add(f"{missing} records never consumed within {GROUP_DEADLINE}s "
                 f"(first missing: record {first})")
    counts = ", ".join(f"{n} {c}" for n, c in sorted(tracker.by_member.items()))
    refused = [e for m in members.values() for e in m.refused]
    line = (f"{label} group: {client.version()}, group {group}, topic {client.topic}, "
            f"{args.records} records, {PARTITIONS} partitions, "
            f"replication factor {client.replication_factor}; B and C joined at {at_join}, "
            f"A left at {at_leave}; consumed {counts}; {tracker.duplicates} duplicates, "
            f"{missing} missing; {len(refused)} commits refused and retried"
            f"{' (first: ' + refused[0] + ')' if refused else ''}; all consumed in {consumed_s:.1f}s")
    return result(line, fail), group


def check_offsets(client, label, group):
    """Step 4: committed offsets equal the log end offsets; the group is
    listed and described."""
    fail = Failures(f"{label} offsets")
    ends = client.end_offsets()
    for api, got in client.committed(group).items():
        bad = [f"partition {p}: {got.get(p)} want {ends[p]}"
               for p in range(PARTITIONS) if got.get(p) != ends[p]]
        if bad:
            fail.add(f"{api}: {len(bad)} partitions differ from the log end, first {bad[0]}")
    if group not in client.listed_groups():
        fail.add(f"ListGroups does not list {group}")
    state, ptype, n = client.describe(group)
    if (state, ptype, n) != ("Empty", "consumer", 0):
        fail.add(f"DescribeGroups: state {state!r}, protocol type {ptype!r}, {n} members; "
                 f"want 'Empty', 'consumer', 0")
    line = (f"{label} offsets: committed offsets of {group} equal the log end "
            f"({sum(ends.values())} records over {PARTITIONS} partitions); "
            f"listed and described as {state}")
    return result(line, fail)


def check_rebalance(args, client, label):
    """Step 3: time until a survivor owns every partition after a member is
    killed, and after one leaves cleanly. Returns (line, group id)."""
    fail = Failures(f"{label} rebalance")
    group = f"compat-groups-{args.client}-{args.assignor}-rb-{uuid.uuid4().hex[:8]}"
    driver = client.Driver(client, group, "survivor", args.assignor)
    survivor = Member("survivor", driver, fail, commits=False)
    survivor.start()
    figures = {}
    try:
        wait_until("survivor owning every partition", 30,
                   lambda: survivor.full_since is not None or fail.count)
        for how in ("kill", "leave"):
            child = SubprocessMember(args, group, client.topic, fail)
            try:
                def two_members():
                    if not (child.owned and survivor.owned_count() + child.owned == PARTITIONS):
                        return None
                    d = client.describe(group)
                    return d if d[0] == "Stable" and d[2] == 2 else None
                wait_until(f"a stable group of two ({how})", 30, two_members)
                t0 = time.monotonic()
                if how == "kill":
                    child.kill()
                    limit = SESSION_MS / 1000 + KILL_SLACK
                else:
                    child.close()
                    limit = LEAVE_LIMIT
                try:
                    wait_until(f"survivor owning every partition after the {how}", limit,
                               lambda: survivor.full_since is not None)
                    figures[how] = survivor.full_since - t0
                except TimeoutError as e:
                    fail.add(str(e))
                if how == "leave":
                    child.wait(30)
                    if not child.closed.is_set():
                        fail.add("the leaving member did not report a clean close")
            finally:
                if child.proc.poll() is None:
                    child.kill()
    finally:
        survivor.stop()

    def fig(how):
        return f"{figures[how]:.2f}s" if how in figures else "n/a"

    line = (f"{label} rebalance: survivor owned all {PARTITIONS} partitions "
            f"{fig('kill')} after SIGKILL of the other member (session.timeout.ms {SESSION_MS}), "
            f"{fig('leave')} after a clean leave")
    return result(line, fail), group


def check_delete(client, label, groups):
    fail = Failures(f"{label} delete")
    got = client.delete_groups(groups)
    if got is None:
        return None
    for g in groups:
        if got.get(g) is not None:
            fail.add(f"DeleteGroups {g}: {got.get(g)}")
    left = set(groups) & client.listed_groups()
    if left:
        fail.add(f"ListGroups still lists {sorted(left)} after DeleteGroups")
    return result(f"{label} delete: DeleteGroups removed {len(groups)} empty groups", fail)


def result(line, fail):
    if fail.count:
        return f"FAIL {line}; {fail.count} problems, first: {fail.first}"
    return f"PASS {line}"


def run(args):
    label = f"{args.client} {args.assignor}"
    client_log = ClientLog(label)
    topic = f"compat-groups-{args.client}-{args.assignor}-{uuid.uuid4().hex[:8]}"
    cls = ConfluentClient if args.client == "confluent" else KafkaPythonClient
    lines = []

    def emit(line):
        if line is not None:
            print(line, flush=True)
            lines.append(line)

    try:
        client = cls(args.bootstrap, topic, client_log, args.replication_factor)
        client.create_topic()
        wait_until(f"topic {topic} with {PARTITIONS} led partitions", 10,
                   lambda: client.led_partitions() == PARTITIONS)
        client.produce(args.records, 60)
    except Exception as e:  # nothing else can run without the topic
        traceback.print_exc(file=sys.stderr)
        emit(f"FAIL {label} setup: {type(e).__name__}: {e}")
        return 1
    groups = []
    for name, step in (("group", lambda: check_group(args, client, label)),
                       ("offsets", lambda: check_offsets(client, label, groups[0])),
                       ("rebalance", lambda: check_rebalance(args, client, label)),
                       ("delete", lambda: check_delete(client, label, groups))):
        if name == "offsets" and not groups:
            continue
        try:
            got = step()
        except Exception as e:  # a client exception fails this check; the next still run
            traceback.print_exc(file=sys.stderr)
            emit(f"FAIL {label} {name}: {type(e).__name__}: {e}")
            continue
        if isinstance(got, tuple):
            emit(got[0])
            groups.append(got[1])
        else:
            emit(got)
    if client_log.protocol_errors:
        emit(f"FAIL {label} protocol: client logged {len(client_log.protocol_errors)} "
             f"protocol errors, first: {client_log.protocol_errors[0]}")
    return 1 if any(not ln.startswith("PASS ") for ln in lines) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True,
                    help="host:port of the broker, or a comma-separated list of a cluster's")
    ap.add_argument("--client", required=True, choices=CLIENTS)
    ap.add_argument("--assignor", choices=ASSIGNORS, default="range",
                    help="partition assignment strategy (kafka-python: range only)")
    ap.add_argument("--records", type=int, default=30_000)
    ap.add_argument("--replication-factor", type=int, default=1,
                    help="replicas of the topic created")
    ap.add_argument("--member", metavar="GROUP", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.records < 1 or args.replication_factor < 1:
        ap.error("--records and --replication-factor must be at least 1")
    if args.client == "kafka-python" and args.assignor != "range":
        ap.error("kafka-python 2.0 supports only the eager assignors; use --assignor range")
    if args.member:
        return run_member(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
