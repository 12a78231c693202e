# Herald — make run starts everything locally; make test runs every test.
GO        ?= go
BIN       := bin
# Packages that link the Temporal server (slow to link, run without -race).
SERVER_PKGS := ./internal/integration/... ./internal/devserver/...
# Everything else runs with the race detector.
RACE_PKGS   = $(shell $(GO) list ./... | grep -v -e /internal/integration -e /internal/devserver -e /internal/app/dev -e /internal/scenario -e '/worker$$')
PROMTOOL  ?= promtool
# The release the image is tagged with; deploy/ pins the same tag (a test
# checks that they agree). Bump both together.
VERSION   := 0.1.0
IMAGE     ?= ghcr.io/herald-alerts/herald
CONTAINER ?= docker

.PHONY: all build image run test test-race test-integration test-scenarios test-rules test-fuzz vet deps bench bench-e2e replay load clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/worker and bin/starter
	$(GO) build -o $(BIN)/worker ./worker
	$(GO) build -o $(BIN)/starter ./starter

image: ## build the container image $(IMAGE):$(VERSION) (deploy/Dockerfile; CONTAINER=podman works too)
	$(CONTAINER) build -f deploy/Dockerfile -t $(IMAGE):$(VERSION) .

# make run uses the example targets (Herald's own logging dev sink) unless
# HERALD_TARGETS_FILE names yours.
run: export HERALD_TARGETS_FILE ?= docs/examples/dev-targets.yaml
run: build ## start embedded Temporal + Web UI, worker and starter (Ctrl-C stops)
	./$(BIN)/worker dev

deps: ## install what the tests need (Debian packages) when missing
	@missing=""; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	{ command -v $(PROMTOOL) >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || missing="$$missing prometheus"; \
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet: ## go vet and gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps vet test-race test-integration test-scenarios test-rules test-fuzz ## every test: unit (-race), replay, integration, end-to-end, scenarios, alert rules, fuzzing

test-race: ## unit, workflow (testsuite) and replay tests with the race detector
	$(GO) test -race -count=1 $(RACE_PKGS)

# The longest integration tests (each on its own task queue or server) run
# in parallel once the others are done.
test-integration: build ## real in-process Temporal server, httptest targets, real Alertmanager
	HERALD_WORKER_BIN=$(CURDIR)/$(BIN)/worker $(GO) test -count=1 -timeout 20m -parallel 3 $(SERVER_PKGS)

# Each fuzz target runs for FUZZTIME on top of its committed seed corpus
# (testdata/fuzz/); -fuzz takes one package and one target at a time.
FUZZTIME ?= 10s
FUZZ = $(GO) test -run '^$$' -fuzztime $(FUZZTIME) -fuzz
test-fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	$(FUZZ) '^FuzzParseWebhook$$' ./internal/alert/
	$(FUZZ) '^FuzzAlertListQuery$$' ./internal/ingest/
	$(FUZZ) '^FuzzParseList$$' ./internal/target/
	$(FUZZ) '^FuzzParseOne$$' ./internal/target/
	$(FUZZ) '^FuzzRetryAfter$$' ./internal/publish/
	$(FUZZ) '^FuzzTemplate$$' ./internal/publish/

# The scenario suite runs `worker dev` processes of bin/worker (built once,
# shared with the cluster tests) against loopback receivers; -parallel 4
# overlaps the scenarios that mostly wait.
test-scenarios: build ## the shipped binary under faults: target down, HEAD 501, kill -9, 429 storm, redirects, out of order, discovery; the engine cost of an alert
	HERALD_WORKER_BIN=$(CURDIR)/$(BIN)/worker $(GO) test -count=1 -timeout 25m -parallel 4 -v ./internal/scenario/

test-rules: ## promtool checks and unit tests of the Prometheus alert rules
	$(PROMTOOL) check rules deploy/prometheus/herald-alerts.yml
	$(PROMTOOL) test rules deploy/prometheus/tests/*.yml

# Go benchmarks, short: BENCHTIME per benchmark. The ingest benchmark on a
# real in-process Temporal server (internal/integration) links the server and
# runs only with BENCH_ALL=1.
BENCHTIME ?= 200ms
BENCH     ?= .
BENCH_PKGS = $(RACE_PKGS) $(if $(BENCH_ALL),$(SERVER_PKGS))
bench: ## Go benchmarks of the hot paths (BENCHTIME=200ms; BENCH_ALL=1 adds the in-process server)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS)

# Side-by-side load run (docs/performance.md): a real Alertmanager sends every
# alert straight to a receiver and to Herald (worker dev, file store, 3 webhook
# targets on that receiver). Unset, RATES, DURATION and DRAIN take the
# harness's defaults (20,50,100 alerts/s, 20s, 15s). BENCH_E2E_FLAGS adds
# e.g. -burst, -ack10, -keep (-burst or -ack10 alone skip the rates).
RATES    ?=
DURATION ?=
DRAIN    ?=
BENCH_E2E_FLAGS ?=
bench-e2e: deps ## side-by-side load run Alertmanager → receiver vs Alertmanager → Herald (RATES, DURATION, DRAIN)
	$(GO) build -o $(BIN)/worker ./worker
	$(GO) build -o $(BIN)/benche2e ./internal/benche2e
	./$(BIN)/benche2e -worker $(BIN)/worker $(if $(RATES),-rates $(RATES)) $(if $(DURATION),-duration $(DURATION)) $(if $(DRAIN),-drain $(DRAIN)) $(BENCH_E2E_FLAGS)

replay: ## replay recorded histories: make replay HISTORY=file.json
	$(GO) run ./worker replay -history $(HISTORY)

# The embedded dev server of `make run` takes about 10-20 alerts/s on 2 cores;
# raise LOAD_RATE against a real Temporal cluster (k6/README.md).
LOAD_RATE ?= 1
load: ## k6 steady-state load test against a running Herald (see k6/README.md)
	LOAD_RATE=$(LOAD_RATE) $(GO) run go.k6.io/k6@v1.8.1 run k6/steady_state.js

clean:
	rm -rf $(BIN)
