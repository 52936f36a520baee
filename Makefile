# Strata: the two commands a new user needs are `make serve` and `make test`.
GO ?= go
BIN := bin/strata

.PHONY: serve cluster build test test-go test-race test-compat fuzz vet clean bench bench-security chaos

## serve: start a one-node broker with defaults (127.0.0.1:9092, data in ./strata-data)
serve: build
	./$(BIN) serve

## cluster: start a local 3-node cluster (127.0.0.1:9092-9094, data in ./strata-cluster) until Ctrl-C
cluster: build
	./$(BIN) dev cluster --nodes 3 --data-dir ./strata-cluster

## build: build the static binary into bin/strata
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/strata

## test: Go tests, race-checked unit tests, then the client compatibility suite
test: vet test-go test-race test-compat

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -count=1 -timeout 15m ./...

## test-race: every package under the race detector, end-to-end tests at -short size,
## and one seed of the in-process cluster under faults
test-race:
	$(GO) test -count=1 -race -short -timeout 10m ./...
	CHAOS_SEEDS=1 $(GO) test -count=1 -race -timeout 5m -run TestLinearizableUnderFaults ./test/chaos

## test-compat: kcat, confluent-kafka-python and kafka-python against a fresh broker, then a fresh 3-node cluster
test-compat: build
	bash test/compat/run.sh $(CURDIR)/$(BIN)

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## chaos: long fault runs: CHAOS_SEEDS seeds of CHAOS_SECONDS each of the in-process cluster
## under random faults (linearizability checked), and the multi-process fault tests FAULT_RUNS times
CHAOS_SEEDS ?= 50
CHAOS_SECONDS ?= 20
FAULT_RUNS ?= 10
chaos:
	CHAOS_SEEDS=$(CHAOS_SEEDS) CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_FIRST_SEED=100 \
	  $(GO) test -count=1 -timeout 180m -run TestLinearizableUnderFaults -v ./test/chaos
	$(GO) test -count=$(FAULT_RUNS) -timeout 120m ./test/fault

## bench: fixed benchmark suite vs kfake and NATS JetStream on fresh local servers; writes docs/benchmarks.md
bench:
	GO=$(GO) bash bench/run.sh

## bench-security: TLS against plaintext and TLS/SCRAM connection setup on one node; results go in docs/benchmarks-security.md
bench-security:
	GO=$(GO) bash bench/security.sh

clean:
	rm -rf bin strata-data strata-cluster
