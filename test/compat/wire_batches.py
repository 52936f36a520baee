#!/usr/bin/python3
"""Checks the record batches a broker serves for a topic, read off the wire.

A client library may silently fall back to uncompressed batches or to a
non-idempotent producer when it thinks the broker lacks support (librdkafka
does both), and its consumer hides the difference. This reads every batch of
the topic with a plain Fetch v4 request (standard library only) and checks
the batch headers: the compression codec, and optionally that a producer ID
is set (idempotent producer).

    /usr/bin/python3 test/compat/wire_batches.py --bootstrap 127.0.0.1:PORT \
        --topic T --partitions N --codec none|gzip|snappy|lz4|zstd [--idempotent]

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


def fetch(sock, correlation, topic, partition, offset, max_bytes=8 << 20):
    """One Fetch v4 for one partition: (error code, high watermark, records)."""
    t = topic.encode()
    client = b"strata-compat"
    body = struct.pack(">hhih", FETCH_KEY, FETCH_VERSION, correlation, len(client)) + client
    body += struct.pack(">iiiibi", -1, 0, 0, max_bytes, 0, 1)  # replica, wait, min, max, isolation, 1 topic
    body += struct.pack(">h", len(t)) + t + struct.pack(">iiqi", 1, partition, offset, max_bytes)
    sock.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    r = Reader(recv_exact(sock, size))
    if r.take(">i") != correlation:
        raise ValueError("correlation id mismatch")
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
    """The API keys the broker lists in ApiVersions v0."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"strata-compat"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(sock, 4))[0]
        r = Reader(recv_exact(sock, size))
    r.take(">i")  # correlation id
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
    host, port = bootstrap.rsplit(":", 1)
    want = CODEC_IDS[codec]
    seen = {}  # codec id -> batches
    problems = []
    big = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        correlation = 0
        for p in range(partitions):
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
