# Ragway. `make help` lists the targets.
GO       ?= go
BIN      := bin/ragway
BENCH_BIN := bin/ragway-bench
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/ragway/ragway/cmd/ragway/cli.Version=$(VERSION)
FUZZTIME ?= 30s
BENCH_ARGS ?=
# TAGS=milvus builds in the Milvus store's client (about 18 MB more resident memory).
TAGS     ?=

.PHONY: help build run test test-short fuzz bench bench-build lint tidy-check clean services-up services-down

# The tests read the services' addresses from the environment.
SERVICES_ENV = eval "$$(deploy/dev/services.sh env)" &&

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build bin/ragway
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ragway

run: build ## Build and start the gateway with the embedded defaults (127.0.0.1:8080, ./data)
	./$(BIN) serve

test: services-up ## Start Redis and PostgreSQL, vet, run every test with the race detector, and each benchmark once
	$(GO) vet ./...
	$(GO) vet -tags milvus ./retrieval/stores/ ./cmd/...
	$(SERVICES_ENV) $(GO) test -tags milvus -count=1 ./retrieval/stores/
	$(SERVICES_ENV) $(GO) test -race -count=1 -timeout 20m ./...
	$(SERVICES_ENV) $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 10m ./...

test-short: services-up ## Run the tests without the race detector
	$(SERVICES_ENV) $(GO) test -count=1 ./...

services-up: ## Install (if missing) and start Redis and PostgreSQL on loopback
	deploy/dev/services.sh up >/dev/null

services-down: ## Stop the services
	deploy/dev/services.sh down

fuzz: ## Run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build bench-build ## Gateway overhead benchmark: direct vs through bin/ragway, pinned to separate cores (BENCH_ARGS="--reference go" for Go's own proxy as the yardstick)
	./$(BENCH_BIN) $(BENCH_ARGS)

bench-build: ## Build bin/ragway-bench, the benchmarks (ragway-bench help lists them)
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BENCH_BIN) ./cmd/ragway-bench

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

tidy-check: ## Fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy -diff

clean: ## Remove build output
	rm -rf bin
