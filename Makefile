# Otpgate — `make run` starts the sandbox gateway, `make test` runs every test.
GO       ?= go
BIN      := bin/otpgate
PKGS     := ./...
# Benchmarks: short by default; make bench-full for longer runs.
BENCH_DURATION ?= 10s
BENCH_WARMUP   ?= 2s
BENCH_RECORDS  ?= 1000000
BENCH_PENDING  ?= 100000

.PHONY: all build run test test-short test-deps check-tracked vet fmt-check bench bench-go bench-full bench-readme clean

## test-deps: what the tests need beyond Go (sipp, jq, node-smpp), idempotently, in exact versions
test-deps:
	scripts/test-deps.sh

## check-tracked: no compiled binary or bulk tracked by git
check-tracked:
	scripts/check-tracked.sh

all: build

build:
	$(GO) build -o $(BIN) ./cmd/otpgate

## run: build and start the gateway in sandbox mode (HTTP on 127.0.0.1:8080, data in ./otpgate-data)
run: build
	./$(BIN) serve

## test: tracked files, vet, format check, the steady-load tests (too slow
## under the race detector) without it, then every test with the race detector
test: check-tracked fmt-check vet test-deps
	$(GO) test -count=1 -timeout 10m -run 'SteadyLoad' ./engine/
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-short: every test without the race detector (faster while editing)
test-short:
	$(GO) test -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the suite small (under 3 minutes): Go benchmarks, the API against
## the machine's ceiling (create, then open loop at half its rate), the whole
## path with every leg, SMPP, and memory with a million stored verifications
bench: build bench-go
	./$(BIN) bench api --mode create --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --then-open-loop-at 0.5
	./$(BIN) bench api --mode e2e --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --ceiling=false
	./$(BIN) bench api --channel whatsapp --mode e2e --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --ceiling=false
	./$(BIN) bench api --channel rcs --mode e2e --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --ceiling=false
	./$(BIN) bench profile --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP)
	./$(BIN) bench smpp --binds 4 --window 50 --latency 20ms --receipts --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --out bench-results/smpp-latency.json
	./$(BIN) bench smpp --binds 4 --window 50 --latency 0 --receipts=false --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --out bench-results/smpp.json
	./$(BIN) bench memory --records $(BENCH_RECORDS) --pending $(BENCH_PENDING) --duration $(BENCH_DURATION)

## bench-readme: README's performance section from the reports of the last
## runs (bench-results/*.json, kept in docs/bench/)
bench-readme: build
	./$(BIN) bench readme --from bench-results

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1s ./router/ ./internal/phone/ ./engine/... ./smpp/...

## bench-full: the same at full length and scale (10 million stored
## verifications, one million pending), plus Kannel beside Otpgate
bench-full:
	$(MAKE) bench BENCH_DURATION=60s BENCH_WARMUP=10s BENCH_RECORDS=10000000 BENCH_PENDING=1000000
	bench/peers/kannel/run.sh 30
	RECEIPTS=1 bench/peers/kannel/run.sh 30

clean:
	rm -rf bin bench-results
