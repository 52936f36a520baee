#!/usr/bin/env bash
# sasl.sh STRATA PLAINTEXT_BOOTSTRAP SASL_BOOTSTRAP PYTHON: creates a SCRAM
# user through the PLAINTEXT listener with `strata user create`, then has
# kcat, confluent-kafka-python and kafka-python produce and consume over the
# SASL_PLAINTEXT listener with SCRAM-SHA-512 and with PLAIN, and checks that
# a wrong password is refused. Prints one PASS or FAIL line per check.
set -uo pipefail
strata=$1 plain=$2 sasl=$3 py=$4
user=compat-user pass=compat-Pa55word

"$strata" --brokers "$plain" user create "$user" --password "$pass" --mechanism SCRAM-SHA-512 >/dev/null ||
	{ echo "FAIL sasl: strata user create"; exit 1; }

if command -v kcat >/dev/null; then
	for mech in SCRAM-SHA-512 PLAIN; do
		opts=(-b "$sasl" -X security.protocol=SASL_PLAINTEXT -X "sasl.mechanism=$mech" -X "sasl.username=$user")
		topic="sasl-kcat-${mech,,}"
		if echo "kcat-$mech" | kcat "${opts[@]}" -X "sasl.password=$pass" -P -t "$topic" &&
			[[ $(kcat "${opts[@]}" -X "sasl.password=$pass" -C -t "$topic" -c 1 -e -q) == "kcat-$mech" ]]; then
			echo "PASS sasl kcat $mech"
		else
			echo "FAIL sasl kcat $mech: produce and consume"
		fi
		if kcat "${opts[@]}" -X sasl.password=wrong -L -m 5 >/dev/null 2>&1; then
			echo "FAIL sasl kcat $mech: a wrong password was accepted"
		else
			echo "PASS sasl kcat $mech wrong password refused"
		fi
	done
else
	echo "SKIP sasl kcat: kcat not installed" >&2
fi

"$py" - "$sasl" "$user" "$pass" <<'PY'
import sys
bootstrap, user, password = sys.argv[1:]
for mech in ("SCRAM-SHA-512", "PLAIN"):
    try:
        from confluent_kafka import Consumer, Producer
        conf = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": mech, "sasl.username": user, "sasl.password": password}
        topic = "sasl-confluent-" + mech.lower()
        p = Producer(conf)
        p.produce(topic, b"confluent-" + mech.encode())
        left = p.flush(30)
        c = Consumer(dict(conf, **{"group.id": topic, "auto.offset.reset": "earliest"}))
        c.subscribe([topic])
        msg = None
        for _ in range(30):
            msg = c.poll(1)
            if msg is not None and not msg.error():
                break
        c.close()
        ok = left == 0 and msg is not None and msg.value() == b"confluent-" + mech.encode()
        print(("PASS" if ok else "FAIL") + " sasl confluent-kafka " + mech)
    except ImportError:
        print("SKIP sasl confluent-kafka: not installed", file=sys.stderr)
    try:
        from kafka import KafkaConsumer, KafkaProducer
        conf = dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mech,
                    sasl_plain_username=user, sasl_plain_password=password)
        topic = "sasl-kafka-python-" + mech.lower()
        p = KafkaProducer(**conf)
        p.send(topic, b"kafka-python-" + mech.encode()).get(timeout=30)
        p.close()
        c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=15000, **conf)
        got = [m.value for m in c]
        c.close()
        ok = got == [b"kafka-python-" + mech.encode()]
        print(("PASS" if ok else "FAIL") + " sasl kafka-python " + mech + ("" if ok else ": got %r" % got))
    except ImportError:
        print("SKIP sasl kafka-python: not installed", file=sys.stderr)
PY
