#!/usr/bin/python3
"""Exactly-once processing against Strata with confluent-kafka-python's
transactional API.

Run with Debian's interpreter against a running broker or cluster:

    /usr/bin/python3 test/compat/python_txn.py --bootstrap HOST:PORT[,...] \
        [--records 2000] [--replication-factor 1]

It creates an input and an output topic (4 partitions each), fills the input
with --records numbered records, then runs the read-process-write loop users
write: a group consumer (read_committed, no auto commit) and a transactional
producer; each batch of input records is written transformed ("out-N" for
"in-N") to the output topic, and the input offsets are committed in the same
transaction (send_offsets_to_transaction). The third transaction is aborted
instead, and the loop rewinds to the committed offsets and processes those
records again, as an application does after abort_transaction. Checks, each
on a line of its own as "PASS ..." or "FAIL ...":

etl      every transaction but the aborted one committed, and the loop
         processed every input record;
output   a read_committed consumer of the output topic reads every "out-N"
         exactly once and nothing else; a read_uncommitted one also reads
         the aborted transaction's records;
offsets  the group's committed offsets are the input's end offsets;
fence    a second producer with the same transactional.id fences the first:
         the first's next transaction fails as fenced.

Exit status 0 if every check passed, 1 otherwise.
"""

import argparse
import collections
import logging
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from python_clients import ClientLog  # noqa: E402 (this directory)

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTITIONS = 4
BATCH = 100  # input records per transaction
LIMIT = 90  # seconds the loop and each read may take


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--replication-factor", type=int, default=1)
    args = ap.parse_args()
    log = ClientLog("txn")
    logger = logging.getLogger("compat.librdkafka")
    logger.setLevel(logging.WARNING)
    logger.addHandler(log)
    base = {"bootstrap.servers": args.bootstrap, "logger": logger}
    run = uuid.uuid4().hex[:8]
    src, dst, group, txn_id = "txn-in-" + run, "txn-out-" + run, "txn-g-" + run, "txn-" + run
    results = []

    def result(ok, line):
        results.append(ok)
        print(("PASS " if ok else "FAIL ") + line, flush=True)

    admin = AdminClient(dict(base))
    for f in admin.create_topics([NewTopic(t, PARTITIONS, args.replication_factor) for t in (src, dst)]).values():
        f.result(30)
    plain = Producer(dict(base, **{"enable.idempotence": True}))
    for i in range(args.records):
        plain.produce(src, value=b"in-%d" % i, key=b"%d" % i)
    if plain.flush(30) != 0:
        result(False, "etl: the input was not produced")
        return 1

    consumer = Consumer(dict(base, **{"group.id": group, "isolation.level": "read_committed",
                                      "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    consumer.subscribe([src])
    producer = Producer(dict(base, **{"transactional.id": txn_id, "transaction.timeout.ms": 30000}))
    producer.init_transactions(30)
    processed, commits, aborted = set(), 0, []
    deadline = time.monotonic() + LIMIT
    while len(processed) < args.records and time.monotonic() < deadline:
        msgs = consumer.consume(BATCH, 1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce(dst, value=b"out-" + m.value()[3:], key=m.key())
        if commits == 2 and not aborted:
            # The third transaction fails: abort it and process its records again.
            producer.flush(30)
            producer.abort_transaction(30)
            aborted = [m.value()[3:].decode() for m in msgs]
            for tp in consumer.committed(consumer.assignment(), 30):
                consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))
            continue
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        commits += 1
        processed.update(m.value()[3:].decode() for m in msgs)
    result(len(processed) == args.records and aborted,
           "etl: %d of %d input records processed in %d committed transactions, %d records aborted"
           % (len(processed), args.records, commits, len(aborted)))

    want = collections.Counter("%d" % i for i in range(args.records))
    got = read(base, dst, "read_committed", args.records)
    dups = sum(n - 1 for n in got.values() if n > 1)
    result(got == want, "output: read_committed read %d records, %d distinct, %d duplicates, %d missing"
           % (sum(got.values()), len(got), dups, len(want - got)))
    got = read(base, dst, "read_uncommitted", args.records + len(aborted))
    result(got == want + collections.Counter(aborted),
           "output: read_uncommitted read %d records, the %d aborted ones among them"
           % (sum(got.values()), len(aborted)))

    ends = {p: consumer.get_watermark_offsets(TopicPartition(src, p), 10)[1] for p in range(PARTITIONS)}
    committed = {tp.partition: tp.offset for tp in consumer.committed(
        [TopicPartition(src, p) for p in range(PARTITIONS)], 30)}
    result(committed == ends, "offsets: committed %s, end offsets %s" % (committed, ends))
    consumer.close()

    second = Producer(dict(base, **{"transactional.id": txn_id}))
    second.init_transactions(30)
    fenced = False
    try:
        producer.begin_transaction()
        producer.produce(dst, value=b"zombie")
        producer.commit_transaction(30)
    except KafkaException as e:
        fenced = e.args[0].code() == KafkaError._FENCED or e.args[0].fatal()
    result(fenced, "fence: the first producer was fenced by a second with its transactional.id")
    if log.protocol_errors:
        result(False, "client log: %s" % "; ".join(log.protocol_errors[:3]))
    return 0 if all(results) else 1


def read(base, topic, isolation, want):
    """Counts the numbers of topic's records, read from the start by a
    consumer with the isolation level: until want records or LIMIT, then
    one more second for any record beyond want."""
    c = Consumer(dict(base, **{"group.id": "txn-read-" + uuid.uuid4().hex[:8], "isolation.level": isolation,
                               "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = collections.Counter()
    deadline = time.monotonic() + LIMIT
    extra = False
    while time.monotonic() < deadline and not extra:
        extra = sum(got.values()) >= want
        for m in c.consume(500, 1.0):
            if m.error() is None:
                got[m.value()[4:].decode()] += 1
    c.close()
    return got


if __name__ == "__main__":
    sys.exit(main())
