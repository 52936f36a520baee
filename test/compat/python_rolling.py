#!/usr/bin/python3
"""A rolling restart of a Strata cluster as confluent-kafka-python sees it.

Run with Debian's interpreter against a running cluster of N nodes:

    /usr/bin/python3 test/compat/python_rolling.py --bootstrap HOST:PORT,... \
        --nodes N --restart "COMMAND" [--replication-factor 3]

It creates a 6-partition topic, then produces numbered records with acks=all
and idempotence, and consumes them as the single member of a consumer group
that commits every second. Once records flow both ways it restarts node 1 to
N in turn by running COMMAND with the node's number appended (run.sh passes
restart_node.sh: SIGTERM, then the same command again), each once every
partition of the cluster has all its replicas in sync again, as an operator's
rolling restart does. Then it stops producing and checks, each on a line of
its own as "PASS ..." or "FAIL ...":

produce  no delivery of a record failed: every produce error was retriable
         and retried within the client;
log      read from the start of every partition, every acknowledged record is
         present exactly once;
group    the group member consumed every acknowledged record and was
         assigned its partitions at most twice (once at the start, and at
         most one rebalance through all the restarts).

Exit status 0 if every check passed, 1 otherwise.
"""

import argparse
import logging
import subprocess
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from python_clients import ClientLog  # noqa: E402 (this directory)

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTITIONS = 6
RATE = 500  # records per second
DRAIN_LIMIT = 60  # seconds to read everything back after the restarts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--restart", required=True)
    ap.add_argument("--replication-factor", type=int, default=3)
    args = ap.parse_args()
    log = ClientLog("rolling")
    logger = logging.getLogger("compat.librdkafka")
    logger.setLevel(logging.WARNING)
    logger.addHandler(log)
    topic = "rolling-" + uuid.uuid4().hex[:8]
    base = {"bootstrap.servers": args.bootstrap, "logger": logger}
    results = []

    def result(ok, line):
        results.append(ok)
        print(("PASS " if ok else "FAIL ") + line, flush=True)

    admin = AdminClient(dict(base))
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, args.replication_factor)]).values():
        f.result(30)

    acked, errors = set(), []
    lock = threading.Lock()

    def delivered(err, msg):
        with lock:
            if err is not None:
                errors.append(str(err))
            else:
                acked.add(msg.value().decode())

    producer = Producer(dict(base, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5}))
    consumed = {}  # value -> times
    assigns = []
    group = "rolling-" + uuid.uuid4().hex[:8]
    consumer = Consumer(dict(base, **{"group.id": group, "auto.offset.reset": "earliest",
                                      "enable.auto.commit": False, "session.timeout.ms": 10000}))
    consumer.subscribe([topic], on_assign=lambda c, parts: assigns.append(len(parts)))
    stop = threading.Event()

    def consume():
        last_commit = time.monotonic()
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                v = msg.value().decode()
                with lock:
                    consumed[v] = consumed.get(v, 0) + 1
            if time.monotonic() - last_commit >= 1:
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException:
                    pass  # nothing to commit yet, or a retriable error
                last_commit = time.monotonic()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    restarts = threading.Thread(target=restart_all, args=(admin, args, lock, acked, consumed, result), daemon=True)
    restarts.start()
    i, start = 0, time.monotonic()
    while restarts.is_alive():
        producer.produce(topic, value=("r-%08d" % i).encode(), on_delivery=delivered)
        i += 1
        producer.poll(0)
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))  # pacing, not a wait for a condition
    producer.flush(60)

    with lock:
        n_acked, errs = len(acked), list(errors)
    if errs:
        result(False, "rolling produce: %d of %d deliveries failed, e.g. %s" % (len(errs), i, errs[:3]))
    else:
        result(True, "rolling produce: %d records acknowledged with acks=all through the restarts, no delivery error" % n_acked)

    deadline = time.monotonic() + DRAIN_LIMIT
    while time.monotonic() < deadline:
        with lock:
            if acked <= set(consumed):
                break
        time.sleep(0.05)  # polling with a deadline
    stop.set()
    reader.join(10)
    consumer.close()
    with lock:
        missing = len(acked - set(consumed))
    if missing:
        result(False, "rolling group: %d acknowledged records never consumed" % missing)
    elif len(assigns) > 2:
        result(False, "rolling group: the member was assigned %d times (%s)" % (len(assigns), assigns))
    else:
        result(True, "rolling group: the member consumed every record, assigned %d time(s)" % len(assigns))

    check_log(base, topic, acked, result)
    if log.protocol_errors:
        result(False, "rolling protocol: client logged %d protocol errors, first: %s"
               % (len(log.protocol_errors), log.protocol_errors[0]))
    sys.exit(0 if all(results) else 1)


def restart_all(admin, args, lock, acked, consumed, result):
    """Once records flow, restarts every node in turn, each when the cluster
    is fully in sync."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(acked) > 100 and len(consumed) > 100:
                break
        time.sleep(0.05)  # polling with a deadline
    took = []
    for node in range(1, args.nodes + 1):
        if not wait_in_sync(admin):
            result(False, "rolling restart: partitions still under-replicated before node %d's restart" % node)
            return
        t0 = time.monotonic()
        proc = subprocess.run(args.restart.split() + [str(node)], capture_output=True, text=True)
        if proc.returncode != 0:
            result(False, "rolling restart: restarting node %d failed: %s" % (node, proc.stderr.strip()))
            return
        took.append("%.1fs" % (time.monotonic() - t0))
    if not wait_in_sync(admin):
        result(False, "rolling restart: partitions still under-replicated after the last restart")
        return
    result(True, "rolling restart: %d nodes restarted in turn (%s), in sync after each" % (args.nodes, ", ".join(took)))


def wait_in_sync(admin, limit=60):
    """Waits until every partition of the cluster has all its replicas in sync."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(timeout=5)
            if all(len(p.isrs) == len(p.replicas) and p.leader >= 0
                   for t in md.topics.values() for p in t.partitions.values()):
                return True
        except KafkaException:
            pass  # a node is restarting: ask again
        time.sleep(0.2)  # polling with a deadline
    return False


def check_log(base, topic, acked, result):
    """Reads every partition from the start to its end: each acknowledged
    value must be there exactly once."""
    c = Consumer(dict(base, **{"group.id": "check-" + uuid.uuid4().hex[:8], "enable.auto.commit": False}))
    ends = {}
    for p in range(PARTITIONS):
        _, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = hi
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen, positions = {}, {p: 0 for p in range(PARTITIONS)}
    deadline = time.monotonic() + DRAIN_LIMIT
    while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error() is not None:
            continue
        positions[msg.partition()] = msg.offset() + 1
        v = msg.value().decode()
        seen[v] = seen.get(v, 0) + 1
    c.close()
    lost = acked - set(seen)
    twice = [v for v in acked if seen.get(v, 0) > 1]
    if lost or twice:
        result(False, "rolling log: %d acknowledged records missing (e.g. %s), %d present more than once (e.g. %s)"
               % (len(lost), sorted(lost)[:3], len(twice), twice[:3]))
    else:
        result(True, "rolling log: all %d acknowledged records present exactly once" % len(acked))


if __name__ == "__main__":
    main()
