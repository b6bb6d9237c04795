# Otpgate — `make run` starts the sandbox gateway, `make test` runs every test.
GO       ?= go
BIN      := bin/otpgate
PKGS     := ./...
# Benchmarks: short by default; make bench-full for longer runs.
BENCH_DURATION ?= 10s
BENCH_WARMUP   ?= 2s

.PHONY: all build run test test-short test-deps vet fmt-check bench bench-go clean

## test-deps: what the tests need beyond Go (node-smpp for the SMPP interop tests, sipp for the SIP ones), idempotently
test-deps:
	scripts/test-deps.sh

all: build

build:
	$(GO) build -o $(BIN) ./cmd/otpgate

## run: build and start the gateway in sandbox mode (HTTP on 127.0.0.1:8080, data in ./otpgate-data)
run: build
	./$(BIN) serve

## test: vet, format check, the steady-load tests (too slow under the race
## detector) without it, then every test with the race detector
test: fmt-check vet test-deps
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

## bench: the load harness briefly (create, create-then-check) plus the Go benchmarks
bench: build bench-go
	./$(BIN) bench api --mode create --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP)
	./$(BIN) bench api --mode e2e --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP)
	./$(BIN) bench smpp --binds 4 --window 50 --latency 20ms --receipts --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP)
	./$(BIN) bench smpp --binds 4 --window 50 --latency 0 --receipts=false --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP)

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1s ./router/ ./internal/phone/ ./engine/... ./smpp/...

## bench-full: the same at full length
bench-full:
	$(MAKE) bench BENCH_DURATION=60s BENCH_WARMUP=10s

clean:
	rm -rf bin bench-results
