SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

# Pinned tools. The protoc plugins are `tool` lines in api/go.mod; buf is
# installed here at a fixed version (not in the plugins' module: it would
# drag in a newer protobuf).
BUF_VERSION := v1.50.0
BIN := $(CURDIR)/bin
BUF := $(BIN)/buf
BUF_STAMP := $(BIN)/.buf-$(BUF_VERSION)

# Every module of the workspace; `go test ./...` at the root sees none.
MODULES := $(shell go list -m -f '{{.Dir}}')
COMMANDS := \
	switchboard=./deploy/standalone/cmd/switchboard \
	authd=./services/auth/cmd/authd \
	chatd=./services/chat/cmd/chatd \
	presenced=./services/presence/cmd/presenced \
	edged=./edge/cmd/edged \
	sbctl=./cli/cmd/sbctl \
	sbload=./cli/cmd/sbload

# A development secret for `make run` and `make token` only; set JWT_SECRET
# to your Laravel backend's secret to accept its tokens.
DEV_JWT_SECRET := switchboard-dev-secret-do-not-use-in-production-0123456789abcdef
export JWT_SECRET ?= $(DEV_JWT_SECRET)
DATA_DIR ?= $(CURDIR)/data

.PHONY: help
help: ## Show the targets.
	@grep -hE '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build every binary into bin/ (static).
	@mkdir -p $(BIN)
	@for c in $(COMMANDS); do \
		CGO_ENABLED=0 go build -trimpath -o $(BIN)/$${c%%=*} $${c#*=}; \
	done
	@echo "built: $(foreach c,$(COMMANDS),bin/$(firstword $(subst =, ,$(c))))"

.PHONY: run
run: build ## Build and start the standalone (every service in one process, data in ./data).
	DATA_DIR=$(DATA_DIR) $(BIN)/switchboard

.PHONY: token
token: ## Mint a development token: make -s token ID=42 [NICK=alice].
	@go run ./cli/cmd/sbctl token --user $(or $(ID),1) $(if $(NICK),--nickname $(NICK))

.PHONY: test
test: ## Run every module's tests with the race detector.
	@for m in $(MODULES); do \
		echo "== $${m#$(CURDIR)/}"; \
		(cd $$m && go test -race -count=1 ./...); \
	done

.PHONY: lint
lint: $(BUF_STAMP) ## buf lint and format, go vet, gofmt.
	$(BUF) lint
	$(BUF) format --diff --exit-code
	@for m in $(MODULES); do (cd $$m && go vet ./...); done
	@out=$$(gofmt -l $(MODULES)); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# What `make breaking` compares the contracts with: main by default; a
# release tag once there are releases (BREAKING_AGAINST='.git#tag=v1.0.0').
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: breaking
breaking: $(BUF_STAMP) ## Check the contracts for breaking changes against main (or BREAKING_AGAINST).
	$(BUF) breaking --against '$(BREAKING_AGAINST)'

.PHONY: generate
generate: $(BUF_STAMP) ## Regenerate the Go code of the protobuf contracts.
	$(BUF) generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail when the committed generated code is stale.
	@if [[ -n "$$(git status --porcelain -- api/gen)" ]]; then \
		echo "generated code is stale: run 'make generate' and commit api/gen"; \
		git status --porcelain -- api/gen; git diff --stat -- api/gen; exit 1; \
	fi

.PHONY: bench
bench: build ## Micro-benchmarks, then sbload against a fresh standalone (see docs/benchmarks.md).
	@for m in $(CURDIR)/edge $(CURDIR)/services/chat; do \
		(cd $$m && go test -run '^$$' -bench . -benchmem ./...); \
	done
	./scripts/loadtest.sh

.PHONY: images
images: build ## Build one FROM-scratch image per service binary.
	@for b in authd chatd presenced edged; do \
		docker build -q -f deploy/compose/Dockerfile --build-arg BIN=$$b -t switchboard/$$b:dev . ; \
	done

COMPOSE := docker-compose -p switchboard -f deploy/compose/compose.yaml

.PHONY: up
up: images ## Start the compose stack (one container per service).
	$(COMPOSE) up -d

.PHONY: down
down: ## Stop the compose stack.
	$(COMPOSE) down

.PHONY: clean
clean: ## Remove bin/ and data/.
	rm -rf $(BIN) $(CURDIR)/data

$(BUF_STAMP):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@
