# B2B orders backoffice. `make run` starts the stack locally; `make test` runs every test.
SHELL := /bin/bash
ENV_FILE ?= $(if $(wildcard .env),.env,.env.example)
include $(ENV_FILE)
export

BIN := bin
GO_TEST_FLAGS ?= -race -timeout 20m
TEST_DB_DSN ?= $(DB_USER):$(DB_PASSWORD)@tcp($(DB_HOST):$(DB_PORT))/
export TEST_DB_DSN

.PHONY: all build test vet fmt-check run migrate seed ensure-db clean

all: build

build:
	@mkdir -p $(BIN)
	go build -o $(BIN)/ ./services/... ./db/cmd/...

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

ensure-db:
	@bash db/ensure-mysql.sh

test: ensure-db vet fmt-check
	go test $(GO_TEST_FLAGS) ./...

migrate: ensure-db
	go run ./db/cmd/dbtool migrate

seed: migrate
	go run ./db/cmd/dbtool seed

run: seed build
	$(BIN)/customers-api

clean:
	rm -rf $(BIN)
