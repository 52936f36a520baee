# Strata: the two commands a new user needs are `make serve` and `make test`.
GO ?= go
BIN := bin/strata

.PHONY: serve build test test-go test-race test-compat fuzz vet clean bench

## serve: start a one-node broker with defaults (127.0.0.1:9092, data in ./strata-data)
serve:
	$(GO) run ./cmd/strata serve

## build: build the static binary into bin/strata
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/strata

## test: Go tests, race-checked unit tests, then the client compatibility suite
test: vet test-go test-race test-compat

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -count=1 -timeout 15m ./...

## test-race: every package under the race detector, end-to-end tests at -short size
test-race:
	$(GO) test -count=1 -race -short -timeout 10m ./...

## test-compat: kcat, confluent-kafka-python and kafka-python against a fresh broker
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

## bench: fixed benchmark suite vs kfake and NATS JetStream on fresh local servers; writes docs/benchmarks.md
bench:
	GO=$(GO) bash bench/run.sh

clean:
	rm -rf bin strata-data
