# tc-credd developer targets. CI runs `make ci` through .ci/run.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/taskcluster/tc-credd/internal/cli.Version=$(VERSION)
BIN      := bin/tc-credd
INTEROP  := internal/hawk/testdata/interop

.PHONY: help build test test-race lint tidy-check bench package run ci deps clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: $(INTEROP)/node_modules/.package-lock.json ## install Go modules and the node packages tests use
	$(GO) mod download

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package-lock.json
	npm ci --prefix $(INTEROP) --no-audit --no-fund

build: ## build bin/tc-credd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tc-credd

test: deps ## run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

tidy-check: ## go.mod and go.sum are tidy
	$(GO) mod tidy -diff

run: ## run the embedded demo (no Taskcluster needed)
	$(GO) run ./cmd/tc-credd dev

ci: lint test ## what CI runs

clean:
	rm -rf bin dist
