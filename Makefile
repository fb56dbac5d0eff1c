# Switchboard — `make run` starts a demo server, `make test` installs the
# test peers and runs every test.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 10s
export SWITCHBOARD_E2E ?= require

# Every parser's fuzz target, as package:Target.
FUZZ_TARGETS := \
	./monitor:FuzzEvent \
	./monitor/fritz:FuzzParseLine \
	./monitor/history:FuzzReadSpool \
	./monitor/ami:FuzzReader \
	./monitor/esl:FuzzReader \
	./monitor/internal/flatjson:FuzzScanner \
	./monitor/phonebook:FuzzParseCSV \
	./monitor/phonebook:FuzzParseVCard \
	./monitor/phonebook:FuzzParseFritzXML \
	./sipbridge:FuzzParseSDP \
	./sipbridge:FuzzParseSipfrag \
	./sipbridge:FuzzParseReplaces \
	./sipbridge:FuzzParseReferTo \
	./sipbridge:FuzzParseDTMFRelay \
	./sipbridge:FuzzParseTelephoneEvent \
	./gateway:FuzzParseClientMessage \
	./web/webhook:FuzzParseSpool \
	./sipbridge/siptest:FuzzParseWAV \
	./sipbridge/siptest:FuzzReadNetstring

.PHONY: run build generate test install-test-deps vet lint unit fuzz bench templ-check

run:
	$(GO) run ./cmd/switchboard serve

build:
	$(GO) build -o bin/switchboard ./cmd/switchboard

generate:
	cd web && $(GO) tool templ generate

install-test-deps:
	bash testbed/install.sh

vet:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted"; exit 1; fi

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

test: install-test-deps vet unit fuzz

lint:
	.tools/golangci-lint run ./...
