# B2B orders backoffice. `make run` starts the stack locally; `make test` runs every test.
SHELL := /bin/bash
ENV_FILE ?= $(if $(wildcard .env),.env,.env.example)
include $(ENV_FILE)
export

BIN := bin
GO_TEST_FLAGS ?= -race -timeout 20m
TEST_DB_DSN ?= $(DB_USER):$(DB_PASSWORD)@tcp($(DB_HOST):$(DB_PORT))/
export TEST_DB_DSN

.PHONY: all build test lint vet fmt-check staticcheck run migrate seed ensure-db lambda-zip fuzz peek bench-outbox compare-outbox-default clean token

all: build

CMDS := ./services/customers/cmd/customers-api ./services/orders/cmd/orders-api ./services/orders/cmd/orders-worker \
        ./services/reporting/cmd/reporting ./outbox/cmd/outbox-relay ./db/cmd/dbtool ./localstack/launcher

build:
	@mkdir -p $(BIN)
	go build -o $(BIN)/ $(CMDS)
	go build -o $(BIN)/orchestrator-local ./lambda/orchestrator/cmd/local
	go build -o $(BIN)/goaws github.com/Admiral-Piett/goaws/app/cmd

# The orchestrator for AWS Lambda (provided.al2023, arm64): bin/orchestrator.zip holding one file, bootstrap;
# bin/authorizer.zip the same for its API Gateway authorizer.
lambda-zip:
	@mkdir -p $(BIN)/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -tags lambda.norpc -o $(BIN)/lambda/bootstrap ./lambda/orchestrator/cmd/lambda
	go tool build-lambda-zip -o $(BIN)/orchestrator.zip $(BIN)/lambda/bootstrap
	@echo "built $(BIN)/orchestrator.zip"
	@mkdir -p $(BIN)/authorizer
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -tags lambda.norpc -o $(BIN)/authorizer/bootstrap ./lambda/orchestrator/cmd/authorizer
	go tool build-lambda-zip -o $(BIN)/authorizer.zip $(BIN)/authorizer/bootstrap
	@echo "built $(BIN)/authorizer.zip (its API Gateway authorizer)"

# Static checks, all part of `make test`: go vet, gofmt and staticcheck (pinned as a go.mod tool).
# The dependency direction (domain packages import no SQL, HTTP, AWS or messaging; the HTTP APIs link no
# AWS SDK) is a test: internal/deps.
lint: vet fmt-check staticcheck

vet:
	go vet ./...

staticcheck:
	go tool staticcheck ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

ensure-db:
	@bash db/ensure-mysql.sh

test: ensure-db lint
	go test $(GO_TEST_FLAGS) ./...

migrate: ensure-db
	go run ./db/cmd/dbtool migrate

seed: migrate
	go run ./db/cmd/dbtool seed

# The whole stack on this machine: MariaDB (started or installed if needed), migrations and seed data, goaws,
# every service with prefixed logs. Ctrl-C stops everything.
run: seed build
	$(BIN)/launcher

# A signed dev access token (HS256 with AUTH_HS256_SECRET): an operator with every scope for 12 h, unless
# SCOPES="orders:read orders:write", CUSTOMER_ID=42 or SUB=name say otherwise. export TOKEN=$(make -s token)
token:
	@go run ./tools/devtoken $(if $(SUB),-sub "$(SUB)") $(if $(SCOPES),-scopes "$(SCOPES)") $(if $(CUSTOMER_ID),-customer-id "$(CUSTOMER_ID)")

fuzz:
	go test -run XXX -fuzz FuzzDecodeCursor -fuzztime 30s ./internal/web/
	go test -run XXX -fuzz FuzzDecodeCreateRequest -fuzztime 30s ./services/customers/internal/customerapi/
	go test -run XXX -fuzz FuzzDecodeUpdateRequest -fuzztime 30s ./services/customers/internal/customerapi/

# What waits on a queue of the running stack: by default the tap subscribed to the order-events topic
# (QUEUE=reporting-order-events-dlq for reporting's dead letters). Developer tools live in tools/.
peek:
	go run ./tools/sqs-peek -queue $(or $(QUEUE),$(ORDER_EVENTS_TAP_QUEUE))

# Relay events/s and producer tx/s with the relay running vs stopped.
bench-outbox: ensure-db
	go test -run XXX -bench Relay -benchtime 1x ./outbox/relay/

# Load harness: fresh bench_* databases, goaws and the binaries built from the tree, every workload; prints a
# table and writes bin/bench-results.json (under ~10 minutes). BENCH_FLAGS="-workloads order-create -duration 60s",
# or "-bin DIR" for binaries built elsewhere (`make build BIN=DIR` in another checkout); -help lists the flags.
.PHONY: bench
bench: ensure-db
	go run ./tools/bench $(BENCH_FLAGS)

# What watermill-sql's default MySQL schema loses under the same load (takes a few minutes).
compare-outbox-default: ensure-db
	OUTBOX_COMPARE_DEFAULT=1 go test -run TestDefaultSchemaComparison -v ./outbox/relay/

clean:
	rm -rf $(BIN)
