#!/usr/bin/python3
"""Checks the record batches a broker serves for a topic, read off the wire.

A client library may silently fall back to uncompressed batches or to a
non-idempotent producer when it thinks the broker lacks support (librdkafka
does both), and its consumer hides the difference. This reads every batch of
the topic with a plain Fetch v4 request (standard library only) and checks
the batch headers: the compression codec, and optionally that a producer ID
is set (idempotent producer).

    /usr/bin/python3 test/compat/wire_batches.py --bootstrap 127.0.0.1:PORT[,...] \
        --topic T --partitions N --codec none|gzip|snappy|lz4|zstd [--idempotent]

The bootstrap may list several brokers of a cluster (comma-separated): a
Metadata request to the first that answers names each partition's leader, and
each partition is fetched from its leader, as a consumer would.

Prints one line and exits 0 if every batch of at least MIN_RECORDS records
carries the codec (a client may leave a tiny batch uncompressed when
compression would not shrink it) and at least one such batch exists, 1
otherwise.
"""

import argparse
import socket
import struct
import sys

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}
MIN_RECORDS = 10
FETCH_KEY, FETCH_VERSION = 1, 4
METADATA_KEY, METADATA_VERSION = 3, 1
CLIENT_ID = b"strata-compat"
BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # record batch v2 header, 61 bytes


class Reader:
    """Big-endian reader over a response; short input raises ValueError."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ValueError("response truncated")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def bytes(self):
        n = self.take(">i")
        if n < 0:
            return None
        if self.pos + n > len(self.buf):
            raise ValueError("response truncated")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self):
        n = self.take(">h")
        b = self.buf[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return b.decode()


def recv_exact(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        out += chunk
    return bytes(out)


def addresses(bootstrap):
    """The (host, port) pairs of a comma-separated bootstrap list."""
    out = []
    for a in bootstrap.split(","):
        host, port = a.strip().rsplit(":", 1)
        out.append((host, int(port)))
    return out


def request(sock, key, version, correlation, body):
    """Sends one request with a v1 header and returns a Reader over the
    response after its correlation id."""
    head = struct.pack(">hhih", key, version, correlation, len(CLIENT_ID)) + CLIENT_ID
    sock.sendall(struct.pack(">i", len(head) + len(body)) + head + body)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    r = Reader(recv_exact(sock, size))
    if r.take(">i") != correlation:
        raise ValueError("correlation id mismatch")
    return r


def leaders(bootstrap, topic):
    """Metadata v1 for topic from the first bootstrap broker that answers:
    {partition: (host, port) of its leader}; a partition without a leader
    (or with an error) is left out."""
    last = None
    for addr in addresses(bootstrap):
        try:
            with socket.create_connection(addr, timeout=10) as sock:
                t = topic.encode()
                r = request(sock, METADATA_KEY, METADATA_VERSION, 1,
                            struct.pack(">ih", 1, len(t)) + t)
        except OSError as e:
            last = e
            continue
        brokers = {}
        for _ in range(r.take(">i")):
            node = r.take(">i")
            host = r.string()
            port = r.take(">i")
            r.string()  # rack, nullable
            brokers[node] = (host, port)
        r.take(">i")  # controller id
        out = {}
        for _ in range(r.take(">i")):
            terr = r.take(">h")
            name = r.string()
            r.take(">b")  # is internal
            for _ in range(r.take(">i")):
                perr, p, leader = r.take(">hii")
                for _ in range(2):  # replicas, isr
                    for _ in range(r.take(">i")):
                        r.take(">i")
                if name == topic and not terr and not perr and leader in brokers:
                    out[p] = brokers[leader]
        return out
    raise ConnectionError(f"no broker of {bootstrap} answered: {last}")


def fetch(sock, correlation, topic, partition, offset, max_bytes=8 << 20):
    """One Fetch v4 for one partition: (error code, high watermark, records)."""
    t = topic.encode()
    body = struct.pack(">iiiibi", -1, 0, 0, max_bytes, 0, 1)  # replica, wait, min, max, isolation, 1 topic
    body += struct.pack(">h", len(t)) + t + struct.pack(">iiqi", 1, partition, offset, max_bytes)
    r = request(sock, FETCH_KEY, FETCH_VERSION, correlation, body)
    r.take(">i")  # throttle time
    for _ in range(r.take(">i")):
        name = r.string()
        for _ in range(r.take(">i")):
            p, err, hw, _lso = r.take(">ihqq")
            aborted = r.take(">i")
            for _ in range(max(aborted, 0)):
                r.take(">qq")
            records = r.bytes()
            if name == topic and p == partition:
                return err, hw, records
    raise ValueError(f"no answer for {topic} [{partition}] in the fetch response")


def batches(records):
    """Yields (base offset, last offset delta, attributes, producer id, record
    count) of every whole batch in records; a trailing partial batch is
    skipped, as clients do."""
    pos = 0
    while records is not None and pos + BATCH_HEADER.size <= len(records):
        (base, length, _epoch, magic, _crc, attrs, last_delta, _bts, _mts,
         pid, _pepoch, _seq, count) = BATCH_HEADER.unpack_from(records, pos)
        if pos + 12 + length > len(records):
            return
        if magic != 2:
            raise ValueError(f"batch at offset {base} has magic {magic}, want 2")
        yield base, last_delta, attrs, pid, count
        pos += 12 + length


def api_keys(bootstrap):
    """The API keys the first bootstrap broker lists in ApiVersions v0."""
    with socket.create_connection(addresses(bootstrap)[0], timeout=10) as sock:
        r = request(sock, 18, 0, 1, b"")
    r.take(">h")  # error code
    n = r.take(">i")
    return {r.take(">hhh")[0] for _ in range(n)}


def librdkafka_codec(bootstrap, codec):
    """The codec librdkafka 2.0 really uses when asked for codec: it turns
    LZ4 off ("Feature LZ4: FindCoordinator (0..0) NOT supported") unless the
    broker lists FindCoordinator (key 10), which comes with Strata's group
    coordinator. Until then librdkafka's lz4 batches are sent uncompressed."""
    if codec == "lz4" and 10 not in api_keys(bootstrap):
        return "none"
    return codec


def check(bootstrap, topic, partitions, codec, idempotent):
    """Returns (ok, one-line summary)."""
    want = CODEC_IDS[codec]
    seen = {}  # codec id -> batches
    problems = []
    big = 0
    led = leaders(bootstrap, topic)
    correlation = 0
    for p in range(partitions):
        if p not in led:
            return False, f"metadata names no leader for {topic} [{p}]"
        with socket.create_connection(led[p], timeout=10) as sock:
            offset, hw = 0, None
            while hw is None or offset < hw:
                correlation += 1
                err, hw, records = fetch(sock, correlation, topic, p, offset)
                if err:
                    return False, f"fetch {topic} [{p}] at {offset}: error code {err}"
                got = list(batches(records))
                if not got:
                    if offset < hw:
                        return False, f"fetch {topic} [{p}] at {offset} returned no whole batch below hw {hw}"
                    break
                for base, last_delta, attrs, pid, count in got:
                    c = attrs & 7
                    seen[c] = seen.get(c, 0) + 1
                    if count >= MIN_RECORDS:
                        big += 1
                        if c != want:
                            problems.append(f"[{p}] batch at {base} ({count} records) has codec "
                                            f"{CODEC_NAMES.get(c, c)}, want {codec}")
                    if idempotent and pid < 0:
                        problems.append(f"[{p}] batch at {base} has no producer id (not idempotent)")
                    offset = base + last_delta + 1
    codecs = ", ".join(f"{CODEC_NAMES.get(c, c)}={n}" for c, n in sorted(seen.items()))
    summary = f"batches by codec: {codecs or 'none at all'}"
    if big == 0:
        problems.append(f"no batch of {MIN_RECORDS} or more records to judge")
    if problems:
        return False, f"{summary}; {len(problems)} problems, first: {problems[0]}"
    return True, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--codec", required=True, choices=sorted(CODEC_IDS))
    ap.add_argument("--idempotent", action="store_true", help="require a producer id on every batch")
    ap.add_argument("--librdkafka", action="store_true", help="expect the codec librdkafka really uses")
    args = ap.parse_args()
    try:
        codec = librdkafka_codec(args.bootstrap, args.codec) if args.librdkafka else args.codec
        ok, summary = check(args.bootstrap, args.topic, args.partitions, codec, args.idempotent)
    except (OSError, ValueError) as e:
        ok, summary = False, f"{type(e).__name__}: {e}"
    print(("PASS" if ok else "FAIL") + f" wire batches {args.topic}: {summary}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
