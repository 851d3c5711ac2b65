# tc-credd developer targets. CI runs .ci/run: the image, then deps, lint, cross and test.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/taskcluster/tc-credd/internal/cli.Version=$(VERSION)
BIN      := bin/tc-credd
DIST     := dist
INTEROP  := internal/hawk/testdata/interop
CONFORM  := internal/authtest/testdata/conformance
NFPM     := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
# Package versions must sort: a release tag vX.Y.Z, else 0.1.0~dev.<commit>.
PKG_VERSION ?= $(shell git describe --tags --exact-match --match 'v*' 2>/dev/null | sed 's/^v//' | grep . || echo 0.1.0~dev.$$(git rev-parse --short HEAD 2>/dev/null || echo 0))

# The OCI image `make image` builds (buildah, no Docker daemon needed).
IMAGE    ?= ghcr.io/taskcluster/tc-credd
BUILDAH  ?= buildah --storage-driver vfs

.PHONY: help build test lint cross tidy-check bench package image image-name run ci deps clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: $(INTEROP)/node_modules/.package-lock.json $(CONFORM)/node_modules/.package-lock.json ## install Go modules and the node packages tests use
	$(GO) mod download

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package-lock.json
	npm ci --prefix $(INTEROP) --no-audit --no-fund

$(CONFORM)/node_modules/.package-lock.json: $(CONFORM)/package-lock.json
	npm ci --prefix $(CONFORM) --no-audit --no-fund

build: ## build bin/tc-credd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tc-credd

test: deps ## run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

cross: ## the service platforms build: Linux (amd64, arm64), macOS, Windows
	for t in linux/amd64 linux/arm64 darwin/arm64 windows/amd64; do \
	  GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/tc-credd || exit 1; \
	done

tidy-check: ## go.mod and go.sum are tidy
	$(GO) mod tidy -diff

package: ## build dist/*.deb and dist/*.rpm with nfpm (BIN= and DIST= move them)
	GOOS=linux $(MAKE) build BIN='$(BIN)'
	mkdir -p '$(DIST)'
	for p in deb rpm; do \
	  BIN='$(BIN)' VERSION='$(PKG_VERSION)' GOARCH=$$($(GO) env GOARCH) $(NFPM) pkg --config packaging/nfpm.yaml --packager $$p --target '$(DIST)/' || exit 1; \
	done

image: ## build the OCI image $(IMAGE):latest with buildah, from scratch
	GOOS=linux $(MAKE) build BIN='$(BIN)'
	BIN='$(BIN)' IMAGE='$(IMAGE)' VERSION='$(VERSION)' BUILDAH='$(BUILDAH)' packaging/image/build.sh

image-name: ## print the image name `make image` builds
	@echo '$(IMAGE):latest'

bench: ## benchmark the IMDSv2 path against a bare net/http server and AEMM, and idle cost (installs wrk, AEMM)
	bench/run.sh

.PHONY: fleet
fleet: ## simulate 10,000 hosts × 2 sources through a 1 h Auth outage, unlimited and at 300 req/s (FLEET= adds flags)
	$(GO) run ./cmd/tc-credd-fleet $(FLEET)
	@echo
	$(GO) run ./cmd/tc-credd-fleet -capacity 300 $(FLEET)

run: ## run the embedded demo (no Taskcluster needed)
	$(GO) run ./cmd/tc-credd dev

ci: deps lint cross test ## what .ci/run runs after building the image

clean:
	rm -rf bin dist
