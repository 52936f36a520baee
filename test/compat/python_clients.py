#!/usr/bin/python3
"""Client compatibility check of a Strata broker with a Python Kafka client.

Run with Debian's interpreter, against a running broker:

    /usr/bin/python3 test/compat/python_clients.py --bootstrap 127.0.0.1:PORT[,...] \
        --client confluent|kafka-python --codec none|gzip|snappy|lz4|zstd \
        --records 100000 --partitions 4 [--replication-factor 3]

The bootstrap may list every broker of a cluster, comma-separated. It creates a
fresh topic with --replication-factor (default 1) replicas through the client's
admin API, checks that metadata shows each partition with a leader, that many
replicas and all of them in sync, produces --records
distinct records (record i goes to partition i % N with key "k-<i>", a value
of about 100 bytes, headers idx=<i> and src=<client>, timestamp base+i) with
acks=all and the codec, waits for every delivery report, then checks metadata,
list offsets (earliest, latest, by timestamp) and reads everything back from
the beginning, verifying that each record arrives exactly once, in produce
order per partition, at the offset its delivery report gave, with key, value,
headers and timestamp intact. It also reads the batches back with a raw
Fetch (wire_batches.py) to check that they carry the codec asked for and, for
the idempotent producer, a producer ID: clients fall back silently otherwise.

It prints one line, "PASS ..." or "FAIL ...", with produce and consume
throughput; details of failures go to stderr. Exit status 0 on pass, 1 on
failure.
"""

import argparse
import logging
import sys
import traceback
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import wire_batches  # noqa: E402 (this directory: the script's own, first on sys.path)

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CLIENTS = ("confluent", "kafka-python")
VALUE_SIZE = 100
MAX_DETAILS = 20  # failure details printed to stderr; the rest are counted


class Failures:
    """Collects check failures; the first MAX_DETAILS are printed to stderr."""

    def __init__(self, label):
        self.label = label
        self.count = 0
        self.first = None

    def add(self, msg):
        self.count += 1
        if self.first is None:
            self.first = msg
        if self.count <= MAX_DETAILS:
            print(f"{self.label}: {msg}", file=sys.stderr, flush=True)


class ClientLog(logging.Handler):
    """Receives a client library's log records of level WARNING and up: echoes
    them to stderr and keeps librdkafka's protocol errors (facility PROTOERR:
    a response it could not parse), which fail the run."""

    def __init__(self, label):
        super().__init__(logging.WARNING)
        self.label = label
        self.protocol_errors = []

    def emit(self, record):
        msg = record.getMessage()
        print(f"{self.label}: client log: {msg}", file=sys.stderr, flush=True)
        if record.args and record.args[0] == "PROTOERR":
            self.protocol_errors.append(msg)


class Spec:
    """The records one run produces: record i is fully determined by i."""

    def __init__(self, client, records, partitions, base_ts):
        self.client = client
        self.src = client.encode()
        self.records = records
        self.partitions = partitions
        self.base_ts = base_ts

    @staticmethod
    def key(i):
        return b"k-%d" % i

    @staticmethod
    def value(i):
        head = b"v-%d-" % i
        pad = (b"%08x" % ((i * 2654435761) & 0xFFFFFFFF)) * 13
        return head + pad[: VALUE_SIZE - len(head)]

    def headers(self, i):
        return [("idx", str(i).encode()), ("src", self.src)]

    def partition(self, i):
        return i % self.partitions

    def timestamp(self, i):
        return self.base_ts + i

    def count(self, p):
        """Number of records produced to partition p."""
        return len(range(p, self.records, self.partitions))

    def index(self, p, offset):
        """The i of the record at offset in partition p of a fresh topic."""
        return p + offset * self.partitions


class Checker:
    """Verifies consumed records against the Spec and the delivery reports."""

    def __init__(self, spec, delivered, fail):
        self.spec = spec
        self.delivered = delivered  # delivered[i] = (partition, offset)
        self.fail = fail
        self.seen = bytearray(spec.records)
        self.unique = 0
        self.last_offset = [-1] * spec.partitions
        self.last_index = [-1] * spec.partitions

    def record(self, partition, offset, key, value, headers, create_time, ts):
        s, f = self.spec, self.fail
        where = f"partition {partition} offset {offset}"
        try:
            i = int(key[2:]) if key and key.startswith(b"k-") else -1
        except ValueError:
            i = -1
        if not 0 <= i < s.records:
            f.add(f"{where}: unexpected key {key!r}")
            return
        if self.seen[i]:
            f.add(f"{where}: record {i} read again (duplicate)")
            return
        self.seen[i] = 1
        self.unique += 1
        if partition != s.partition(i):
            f.add(f"{where}: record {i} in partition {partition}, want {s.partition(i)}")
            return
        if offset <= self.last_offset[partition]:
            f.add(f"{where}: offset not above previous {self.last_offset[partition]}")
        if i <= self.last_index[partition]:
            f.add(f"{where}: record {i} after record {self.last_index[partition]}: produce order lost")
        self.last_offset[partition] = offset
        self.last_index[partition] = i
        want = self.delivered[i]
        if want is not None and want != (partition, offset):
            f.add(f"{where}: record {i} delivery report said partition {want[0]} offset {want[1]}")
        if value != s.value(i):
            f.add(f"{where}: record {i} value {value!r}, want {s.value(i)!r}")
        got_headers = [(k, bytes(v) if v is not None else None) for k, v in (headers or [])]
        if got_headers != s.headers(i):
            f.add(f"{where}: record {i} headers {got_headers!r}, want {s.headers(i)!r}")
        if not create_time:
            f.add(f"{where}: record {i} timestamp type is not CreateTime")
        if ts != s.timestamp(i):
            f.add(f"{where}: record {i} timestamp {ts}, want {s.timestamp(i)}")

    def done(self):
        return self.unique >= self.spec.records

    def finish(self):
        missing = self.spec.records - self.unique
        if missing:
            first = self.seen.find(0)
            self.fail.add(f"{missing} records never consumed (first missing: record {first})")


def check_replicas(partitions, replication_factor, fail):
    """partitions[p] = (leader, replicas, isr) of a new topic: each partition
    has replication_factor distinct replicas, all in sync, the leader among
    them."""
    for p, (leader, replicas, isr) in sorted(partitions.items()):
        if len(set(replicas)) != replication_factor or len(replicas) != replication_factor:
            fail.add(f"partition {p}: replicas {replicas}, want {replication_factor} distinct brokers")
        if sorted(isr) != sorted(replicas):
            fail.add(f"partition {p}: in-sync replicas {isr}, want all of {replicas}")
        if leader not in replicas:
            fail.add(f"partition {p}: leader {leader} is not one of the replicas {replicas}")


def check_delivered(spec, delivered, fail):
    """Delivery reports: every record acknowledged, to its partition, at
    offsets 0, 1, 2, ... in produce order (a fresh topic, one producer)."""
    next_offset = [0] * spec.partitions
    for i, d in enumerate(delivered):
        if d is None:
            fail.add(f"record {i}: no successful delivery report")
            continue
        p, off = d
        if p != spec.partition(i):
            fail.add(f"record {i}: delivered to partition {p}, want {spec.partition(i)}")
            continue
        if off != next_offset[p]:
            fail.add(f"record {i}: delivered at partition {p} offset {off}, want {next_offset[p]}")
        next_offset[p] = off + 1


def time_queries(spec, p):
    """Timestamps to ask offsets_for_times about on partition p: before all
    records, at the first, middle and last record, just before the middle one,
    after all records."""
    n = spec.count(p)
    first = spec.timestamp(spec.index(p, 0))
    mid = spec.timestamp(spec.index(p, n // 2))
    last = spec.timestamp(spec.index(p, max(n - 1, 0)))
    return [spec.base_ts - 1000, first, mid, mid - 1, last, spec.timestamp(spec.records) + 10_000]


def want_offset_for_time(spec, p, ts):
    """The offset of the first record in partition p with a timestamp at or
    after ts, or -1 if there is none."""
    # Record at offset k of partition p has timestamp base_ts + p + k*partitions.
    k = max(0, -(-(ts - spec.base_ts - p) // spec.partitions))
    return k if k < spec.count(p) else -1


def check_offsets(spec, watermarks, by_time, fail):
    """watermarks[p] = (earliest, latest); by_time[p] = list of offsets
    answering time_queries(spec, p) in order, -1 for none."""
    for p in range(spec.partitions):
        want = (0, spec.count(p))
        if tuple(watermarks[p]) != want:
            fail.add(f"partition {p}: list offsets earliest/latest {tuple(watermarks[p])}, want {want}")
        for ts, got in zip(time_queries(spec, p), by_time[p]):
            want_off = want_offset_for_time(spec, p, ts)
            if got != want_off:
                fail.add(f"partition {p}: offsets_for_times({ts}) = {got}, want {want_off}")


def wait_until(what, timeout, probe):
    """Polls probe() every 50 ms until it returns a true value; returns it or
    raises TimeoutError naming what and the last probe error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = probe()
            if got:
                return got
        except Exception as e:  # the probe's client error is the reason to report
            last = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not done within {timeout}s (last error: {last!r})")
        time.sleep(0.05)


def read_properties(path):
    """The key=value lines of a librdkafka (or Kafka) properties file, as a
    dict; blank lines and # comments are skipped."""
    props = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, sep, value = line.partition("=")
                if not sep:
                    raise ValueError(f"{path}: not key=value: {line!r}")
                props[key.strip()] = value.strip()
    return props


class ConfluentClient:
    """python3-confluent-kafka (librdkafka). security holds librdkafka's
    security.protocol, sasl.* and ssl.* settings, given to every client."""

    def __init__(self, bootstrap, codec, log, client_log, security=None):
        import confluent_kafka
        from confluent_kafka import admin
        self.ck = confluent_kafka
        self.admin_mod = admin
        self.bootstrap = bootstrap
        self.codec = codec
        self.log = log
        self.logger = logging.getLogger("compat.librdkafka")
        self.logger.setLevel(logging.WARNING)
        self.logger.addHandler(client_log)
        self.security = dict(security or {})
        self.admin = admin.AdminClient(self.conf({}))
        self.fatal = None

    def conf(self, conf):
        """conf plus the settings every client of this run shares."""
        return {"bootstrap.servers": self.bootstrap, "error_cb": self._error,
                "logger": self.logger, **self.security, **conf}

    def _error(self, err):
        self.log(f"client error: {err}")
        if err.fatal():
            self.fatal = str(err)

    def version(self):
        return f"confluent-kafka {self.ck.version()[0]} librdkafka {self.ck.libversion()[0]}"

    def create_topic(self, topic, partitions, replication_factor):
        fs = self.admin.create_topics(
            [self.admin_mod.NewTopic(topic, num_partitions=partitions,
                                     replication_factor=replication_factor)],
            operation_timeout=10, request_timeout=15)
        fs[topic].result(timeout=20)

    def partitions_with_leaders(self, topic):
        """{partition: (leader, replicas, in-sync replicas)} from metadata."""
        md = self.admin.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise RuntimeError(f"metadata error for {topic}: {t.error if t else 'absent'}")
        return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in t.partitions.values()}

    def listed_topics(self):
        return set(self.admin.list_topics(timeout=5).topics)

    def produce(self, spec, topic, delivered, fail, timeout):
        conf = self.conf({
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": self.codec,
            "linger.ms": 5,
            "queue.buffering.max.messages": 500000,
            "message.timeout.ms": int(timeout * 1000),
        })
        p = self.ck.Producer(conf)

        def on_delivery(err, msg):
            i = int(msg.key()[2:])
            if err is not None:
                fail.add(f"record {i}: delivery failed: {err}")
                return
            delivered[i] = (msg.partition(), msg.offset())

        deadline = time.monotonic() + timeout
        for i in range(spec.records):
            while True:
                try:
                    p.produce(topic, value=spec.value(i), key=spec.key(i),
                              partition=spec.partition(i), timestamp=spec.timestamp(i),
                              headers=spec.headers(i), on_delivery=on_delivery)
                    break
                except BufferError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("producer queue stayed full")
                    p.poll(0.05)
            if i % 1000 == 0:
                p.poll(0)
        left = p.flush(max(1.0, deadline - time.monotonic()))
        if left:
            fail.add(f"{left} records still undelivered at the deadline")
        if self.fatal:
            fail.add(f"fatal producer error: {self.fatal}")

    def _consumer(self):
        return self.ck.Consumer(self.conf({
            "group.id": "compat-" + uuid.uuid4().hex,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "check.crcs": True,
        }))

    def offsets(self, spec, topic):
        c = self._consumer()
        try:
            TP = self.ck.TopicPartition
            marks = [c.get_watermark_offsets(TP(topic, p), timeout=10, cached=False)
                     for p in range(spec.partitions)]
            by_time = []
            for p in range(spec.partitions):
                qs = [TP(topic, p, ts) for ts in time_queries(spec, p)]
                res = []
                for q in qs:  # one at a time: one request holds one timestamp per partition
                    (r,) = c.offsets_for_times([q], timeout=10)
                    if r.error is not None:
                        raise RuntimeError(f"offsets_for_times partition {p}: {r.error}")
                    res.append(r.offset)
                by_time.append(res)
            return marks, by_time
        finally:
            c.close()

    def consume(self, spec, topic, checker, fail, timeout):
        c = self._consumer()
        try:
            TP = self.ck.TopicPartition
            c.assign([TP(topic, p, self.ck.OFFSET_BEGINNING) for p in range(spec.partitions)])
            deadline = time.monotonic() + timeout
            create = self.ck.TIMESTAMP_CREATE_TIME
            while not checker.done() and time.monotonic() < deadline:
                for m in c.consume(num_messages=5000, timeout=0.5):
                    if m.error():
                        fail.add(f"consume error: {m.error()}")
                        continue
                    tstype, ts = m.timestamp()
                    checker.record(m.partition(), m.offset(), m.key(), m.value(), m.headers(),
                                   tstype == create, ts)
        finally:
            c.close()


class KafkaPythonClient:
    """python3-kafka (kafka-python). security holds librdkafka's names of
    the security settings (as ConfluentClient takes them), given to every
    client under kafka-python's names."""

    CODEC = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}
    SECURITY = {
        "security.protocol": "security_protocol",
        "sasl.mechanism": "sasl_mechanism",
        "sasl.username": "sasl_plain_username",
        "sasl.password": "sasl_plain_password",
        "ssl.ca.location": "ssl_cafile",
        "ssl.certificate.location": "ssl_certfile",
        "ssl.key.location": "ssl_keyfile",
    }

    def __init__(self, bootstrap, codec, log, client_log, security=None):
        import kafka
        from kafka import admin
        logging.getLogger("kafka").addHandler(client_log)
        self.kafka = kafka
        self.admin_mod = admin
        self.bootstrap = bootstrap
        self.codec = codec
        self.log = log
        self.security = self.security_kwargs(security or {})
        self.admin = admin.KafkaAdminClient(**self.conf(request_timeout_ms=15000))
        self.api_version = None

    @classmethod
    def security_kwargs(cls, security):
        """kafka-python's keyword arguments for librdkafka's security settings."""
        unknown = set(security) - set(cls.SECURITY)
        if unknown:
            raise ValueError(f"no kafka-python setting for {sorted(unknown)}")
        return {cls.SECURITY[k]: v for k, v in security.items()}

    def conf(self, **kwargs):
        """kwargs plus the settings every client of this run shares."""
        return {"bootstrap_servers": self.bootstrap, **self.security, **kwargs}

    def version(self):
        v = f"kafka-python {self.kafka.__version__}"
        if self.api_version:
            v += " api_version " + ".".join(map(str, self.api_version))
        return v

    def create_topic(self, topic, partitions, replication_factor):
        self.admin.create_topics(
            [self.admin_mod.NewTopic(topic, num_partitions=partitions,
                                     replication_factor=replication_factor)],
            timeout_ms=10000)

    def partitions_with_leaders(self, topic):
        """{partition: (leader, replicas, in-sync replicas)} from metadata."""
        (t,) = self.admin.describe_topics([topic])
        if t["error_code"] != 0:
            raise RuntimeError(f"metadata error code {t['error_code']} for {topic}")
        return {p["partition"]: (p["leader"], list(p["replicas"]), list(p["isr"]))
                for p in t["partitions"]}

    def listed_topics(self):
        return set(self.admin.list_topics())

    def produce(self, spec, topic, delivered, fail, timeout):
        p = self.kafka.KafkaProducer(**self.conf(
            acks="all",
            compression_type=self.CODEC[self.codec],
            linger_ms=5,
            batch_size=256 * 1024,
            retries=5,
            max_in_flight_requests_per_connection=1,  # keeps order across retries
            max_block_ms=int(timeout * 1000),
        ))
        self.api_version = p.config["api_version"]
        try:
            futures = [
                p.send(topic, value=spec.value(i), key=spec.key(i), headers=spec.headers(i),
                       partition=spec.partition(i), timestamp_ms=spec.timestamp(i))
                for i in range(spec.records)
            ]
            p.flush(timeout=timeout)
            for i, fut in enumerate(futures):
                if not fut.is_done:
                    fail.add(f"record {i}: undelivered at the deadline")
                elif fut.failed():
                    fail.add(f"record {i}: delivery failed: {fut.exception!r}")
                else:
                    md = fut.value
                    delivered[i] = (md.partition, md.offset)
        finally:
            p.close(timeout=5)

    def _consumer(self):
        return self.kafka.KafkaConsumer(**self.conf(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            check_crcs=True,
        ))

    def offsets(self, spec, topic):
        c = self._consumer()
        try:
            TP = self.kafka.TopicPartition
            tps = [TP(topic, p) for p in range(spec.partitions)]
            low = c.beginning_offsets(tps)
            high = c.end_offsets(tps)
            marks = [(low[tp], high[tp]) for tp in tps]
            by_time = []
            for p, tp in enumerate(tps):
                res = []
                for ts in time_queries(spec, p):
                    got = c.offsets_for_times({tp: ts})[tp]
                    res.append(-1 if got is None else got.offset)
                by_time.append(res)
            return marks, by_time
        finally:
            c.close()

    def consume(self, spec, topic, checker, fail, timeout):
        c = self._consumer()
        try:
            TP = self.kafka.TopicPartition
            tps = [TP(topic, p) for p in range(spec.partitions)]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            deadline = time.monotonic() + timeout
            while not checker.done() and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500, max_records=5000).values():
                    for r in recs:
                        checker.record(r.partition, r.offset, r.key, r.value, r.headers,
                                       r.timestamp_type == 0, r.timestamp)
        finally:
            c.close()


def run(args, fail):
    label = f"{args.client} {args.codec}"

    def log(msg):
        print(f"{label}: {msg}", file=sys.stderr, flush=True)

    cls = ConfluentClient if args.client == "confluent" else KafkaPythonClient
    client_log = ClientLog(label)
    client = cls(args.bootstrap, args.codec, log, client_log)
    topic = f"compat-{args.client}-{args.codec}-{uuid.uuid4().hex[:8]}"
    spec = Spec(args.client, args.records, args.partitions,
                base_ts=int(time.time() * 1000) - args.records - 60_000)

    client.create_topic(topic, args.partitions, args.replication_factor)
    leaders = wait_until(
        f"topic {topic} with {args.partitions} partitions led", 10,
        lambda: (lambda m: m if len(m) == args.partitions and min(l for l, _, _ in m.values()) >= 0
                 else None)(client.partitions_with_leaders(topic)))
    if sorted(leaders) != list(range(args.partitions)):
        fail.add(f"metadata partitions {sorted(leaders)}, want 0..{args.partitions - 1}")
    check_replicas(leaders, args.replication_factor, fail)
    if topic not in client.listed_topics():
        fail.add(f"topic {topic} missing from the list of all topics")

    delivered = [None] * spec.records
    t0 = time.monotonic()
    client.produce(spec, topic, delivered, fail, args.timeout)
    produce_s = time.monotonic() - t0
    check_delivered(spec, delivered, fail)
    codec = args.codec
    if args.client == "confluent":
        codec = wire_batches.librdkafka_codec(args.bootstrap, codec)
    ok, batches = wire_batches.check(args.bootstrap, topic, args.partitions, codec,
                                     idempotent=args.client == "confluent")
    if not ok:
        fail.add(f"stored batches: {batches}")

    marks, by_time = client.offsets(spec, topic)
    check_offsets(spec, marks, by_time, fail)

    checker = Checker(spec, delivered, fail)
    t0 = time.monotonic()
    client.consume(spec, topic, checker, fail, args.timeout)
    consume_s = time.monotonic() - t0
    checker.finish()
    if client_log.protocol_errors:
        fail.add(f"client logged {len(client_log.protocol_errors)} protocol errors, "
                 f"first: {client_log.protocol_errors[0]}")

    return (f"{label}: {client.version()}, topic {topic}, {spec.records} records, "
            f"{spec.partitions} partitions, replication factor {args.replication_factor}; "
            f"produce {spec.records / produce_s:.0f} rec/s "
            f"({produce_s:.1f}s), consume {checker.unique / consume_s:.0f} rec/s "
            f"({consume_s:.1f}s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True,
                    help="host:port of the broker, or a comma-separated list of a cluster's")
    ap.add_argument("--client", required=True, choices=CLIENTS)
    ap.add_argument("--codec", required=True, choices=CODECS)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--replication-factor", type=int, default=1,
                    help="replicas of the topic created; every one must be in sync")
    ap.add_argument("--timeout", type=float, default=60, help="seconds allowed to produce, and to consume")
    args = ap.parse_args()
    if args.records < 1 or args.partitions < 1 or args.replication_factor < 1:
        ap.error("--records, --partitions and --replication-factor must be at least 1")

    label = f"{args.client} {args.codec}"
    fail = Failures(label)
    try:
        summary = run(args, fail)
    except Exception as e:  # any client exception is a compatibility failure to report
        traceback.print_exc(file=sys.stderr)
        print(f"FAIL {label}: {type(e).__name__}: {e}", flush=True)
        return 1
    if fail.count:
        print(f"FAIL {summary}; {fail.count} problems, first: {fail.first}", flush=True)
        return 1
    print(f"PASS {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
