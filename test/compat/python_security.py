#!/usr/bin/python3
"""Security compatibility check of a Strata broker with a Python Kafka client.

Run with Debian's interpreter, against a listener with TLS or SASL:

    /usr/bin/python3 test/compat/python_security.py --bootstrap 127.0.0.1:PORT \
        --client confluent|kafka-python --config good.properties \
        [--refused bad.properties --want-error REGEX] [--records 2000]

Both files hold librdkafka's security settings, one key=value a line
(security.protocol, sasl.mechanism, sasl.username, sasl.password,
ssl.ca.location, ssl.certificate.location, ssl.key.location), as kcat -F
reads them; kafka-python gets them under its own names.

Checks, each reported on its own line as "PASS ..." or "FAIL ...":

secure   with --config: creates a 4-partition topic through the client's
         admin API, produces --records records with acks=all (every delivery
         report at offsets 0, 1, 2, ... per partition), consumes them in a
         new consumer group (subscribe) until every record has been read
         exactly once and intact, commits synchronously, and reads the
         committed offsets back: each equals the partition's record count.
refused  with --refused: a client with those settings (a wrong password, no
         client certificate) lists topics; it must fail within REFUSED_LIMIT
         seconds, and an error it reports (exception, error callback or log
         line) must match --want-error.

Details of failures go to stderr. Exit status 0 if every check passed, 1
otherwise.
"""

import argparse
import logging
import re
import sys
import time
import traceback
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from python_clients import (  # noqa: E402 (this directory)
    Checker, ClientLog, ConfluentClient, Failures, KafkaPythonClient, Spec, check_delivered,
    read_properties, wait_until)

CLIENTS = ("confluent", "kafka-python")
PARTITIONS = 4
REFUSED_LIMIT = 20  # seconds a refused client may take to give up


class Accepted(Exception):
    """The broker served a client it must refuse."""


class Messages(logging.Handler):
    """Keeps every client log line of level WARNING and up."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def confluent_group(client, spec, topic, group, checker, fail, timeout):
    """Consumes topic in group until checker is done; commits; returns the
    committed offsets by partition."""
    ck = client.ck
    c = ck.Consumer(client.conf({"group.id": group, "enable.auto.commit": False,
                                 "auto.offset.reset": "earliest"}))
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while not checker.done() and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    fail.add(f"consume error: {m.error()}")
                    continue
                tstype, ts = m.timestamp()
                checker.record(m.partition(), m.offset(), m.key(), m.value(), m.headers(),
                               tstype == ck.TIMESTAMP_CREATE_TIME, ts)
        c.commit(asynchronous=False)
        got = c.committed([ck.TopicPartition(topic, p) for p in range(spec.partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def kafka_python_group(client, spec, topic, group, checker, fail, timeout):
    """As confluent_group, with kafka-python."""
    kafka = client.kafka
    c = kafka.KafkaConsumer(topic, **client.conf(group_id=group, enable_auto_commit=False,
                                                 auto_offset_reset="earliest"))
    try:
        deadline = time.monotonic() + timeout
        while not checker.done() and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500, max_records=1000).values():
                for r in recs:
                    checker.record(r.partition, r.offset, r.key, r.value, r.headers,
                                   r.timestamp_type == 0, r.timestamp)
        c.commit()
        return {p: c.committed(kafka.TopicPartition(topic, p)) for p in range(spec.partitions)}
    finally:
        c.close()


def secure(args, label, fail):
    """The secure check; returns its summary."""
    cls = ConfluentClient if args.client == "confluent" else KafkaPythonClient
    client_log = ClientLog(label)
    client = cls(args.bootstrap, "none", lambda msg: print(f"{label}: {msg}", file=sys.stderr),
                 client_log, security=read_properties(args.config))
    topic = f"compat-security-{args.client}-{uuid.uuid4().hex[:8]}"
    group = f"compat-security-{uuid.uuid4().hex[:8]}"
    spec = Spec(args.client, args.records, PARTITIONS,
                base_ts=int(time.time() * 1000) - args.records - 60_000)

    client.create_topic(topic, PARTITIONS, 1)
    wait_until(f"topic {topic} with {PARTITIONS} partitions led", 10,
               lambda: (lambda m: len(m) == PARTITIONS and min(l for l, _, _ in m.values()) >= 0)(
                   client.partitions_with_leaders(topic)))
    delivered = [None] * spec.records
    t0 = time.monotonic()
    client.produce(spec, topic, delivered, fail, args.timeout)
    produce_s = time.monotonic() - t0
    check_delivered(spec, delivered, fail)

    checker = Checker(spec, delivered, fail)
    consume = confluent_group if args.client == "confluent" else kafka_python_group
    t0 = time.monotonic()
    committed = consume(client, spec, topic, group, checker, fail, args.timeout)
    consume_s = time.monotonic() - t0
    checker.finish()
    want = {p: spec.count(p) for p in range(spec.partitions)}
    if committed != want:
        fail.add(f"group {group}: committed offsets {committed}, want {want}")
    if client_log.protocol_errors:
        fail.add(f"client logged {len(client_log.protocol_errors)} protocol errors, "
                 f"first: {client_log.protocol_errors[0]}")
    return (f"{label}: {client.version()}, {spec.records} records produced ({produce_s:.1f}s) "
            f"and consumed in group {group} ({consume_s:.1f}s), offsets committed")


def refused_errors(args, messages):
    """Lists topics with the --refused settings; returns the errors the
    client reported, or raises Accepted if it listed them."""
    bad = read_properties(args.refused)
    errors = []
    if args.client == "confluent":
        import confluent_kafka
        from confluent_kafka import admin
        logger = logging.getLogger("compat.refused")
        logger.addHandler(messages)
        a = admin.AdminClient({"bootstrap.servers": args.bootstrap, "logger": logger,
                               "error_cb": lambda e: errors.append(f"error callback: {e}"), **bad})
        # Callbacks and log lines arrive through poll; librdkafka retries
        # without end, so the first error reported ends the wait.
        deadline = time.monotonic() + REFUSED_LIMIT - 5
        while not errors and time.monotonic() < deadline:
            a.poll(0.1)
        try:
            a.list_topics(timeout=1)
        except confluent_kafka.KafkaException as e:
            errors.append(f"exception: {e}")
        else:
            raise Accepted("topics listed")
    else:
        import kafka
        logging.getLogger("kafka").addHandler(messages)
        try:
            c = kafka.KafkaConsumer(bootstrap_servers=args.bootstrap,
                                    api_version_auto_timeout_ms=(REFUSED_LIMIT - 5) * 1000,
                                    **KafkaPythonClient.security_kwargs(bad))
            try:
                c.topics()
            finally:
                c.close()
        except (kafka.errors.KafkaError, OSError) as e:  # OSError: ssl's own errors
            errors.append(f"exception: {type(e).__name__}: {e}")
        else:
            raise Accepted("topics listed")
    return errors + [f"log: {m}" for m in messages.lines]


def refused(args, label):
    """The refused check; returns (ok, summary)."""
    messages = Messages()
    t0 = time.monotonic()
    try:
        errors = refused_errors(args, messages)
    except Accepted as e:
        return False, f"{label}: {e} with the settings of {args.refused}, want an error"
    took = time.monotonic() - t0
    if took > REFUSED_LIMIT:
        return False, f"{label}: gave up only after {took:.1f}s, want within {REFUSED_LIMIT}s"
    want = re.compile(args.want_error, re.IGNORECASE)
    match = next((e for e in errors if want.search(e)), None)
    if match is None:
        for e in errors[:10]:
            print(f"{label}: reported {e}", file=sys.stderr)
        return False, f"{label}: refused in {took:.1f}s but no error reported matches /{args.want_error}/"
    return True, f"{label}: refused in {took:.1f}s: {match[:200]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True, help="host:port of the secured listener")
    ap.add_argument("--client", required=True, choices=CLIENTS)
    ap.add_argument("--config", help="properties file: the security settings that must work")
    ap.add_argument("--refused", help="properties file: security settings the broker must refuse")
    ap.add_argument("--want-error", help="regular expression an error of the refused client must match")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=30, help="seconds allowed to produce, and to consume")
    args = ap.parse_args()
    if not args.config and not args.refused:
        ap.error("give --config, --refused or both")
    if bool(args.refused) != bool(args.want_error):
        ap.error("--refused and --want-error go together")

    rc = 0
    if args.config:
        label = f"{args.client} secure"
        fail = Failures(label)
        try:
            summary = secure(args, label, fail)
        except Exception as e:  # any client exception is a compatibility failure to report
            traceback.print_exc(file=sys.stderr)
            fail.add(f"{type(e).__name__}: {e}")
            summary = label
        if fail.count:
            print(f"FAIL {summary}; {fail.count} problems, first: {fail.first}", flush=True)
            rc = 1
        else:
            print(f"PASS {summary}", flush=True)
    if args.refused:
        label = f"{args.client} refused"
        try:
            ok, summary = refused(args, label)
        except Exception as e:  # an unexpected exception type is a failure to report
            traceback.print_exc(file=sys.stderr)
            ok, summary = False, f"{label}: {type(e).__name__}: {e}"
        print(f"{'PASS' if ok else 'FAIL'} {summary}", flush=True)
        rc = rc or (0 if ok else 1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
