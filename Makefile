# Switchboard — `make run` starts a demo server, `make test` installs the
# test peers and runs every test.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 10s
export SWITCHBOARD_E2E ?= require

# Every parser's fuzz target, as package:Target.
FUZZ_TARGETS := \
	./monitor/e164:FuzzNormalize \
	./monitor/cluster:FuzzDecodePresent \
	./monitor/cluster:FuzzDecodeControl \
	./monitor:FuzzEvent \
	./monitor/fritz:FuzzParseLine \
	./monitor/history:FuzzReadSpool \
	./monitor/history:FuzzNumberQuery \
	./monitor/ami:FuzzReader \
	./monitor/esl:FuzzReader \
	./monitor/internal/flatjson:FuzzScanner \
	./monitor/phonebook:FuzzParseCSV \
	./monitor/phonebook:FuzzParseVCard \
	./monitor/phonebook:FuzzParseFritzXML \
	./monitor/cluster:FuzzToken \
	./sipbridge:FuzzParseSDP \
	./sipbridge:FuzzParseSipfrag \
	./sipbridge:FuzzParseReplaces \
	./sipbridge:FuzzParseReferTo \
	./sipbridge:FuzzParseDTMFRelay \
	./sipbridge:FuzzParseTelephoneEvent \
	./sipbridge:FuzzParseSessionExpires \
	./sipbridge:FuzzParseDialogInfo \
	./sipbridge:FuzzParseSubscriptionState \
	./sipbridge:FuzzParseSources \
	./sipbridge:FuzzParseReason \
	./gateway:FuzzParseClientMessage \
	./web/webhook:FuzzParseSpool \
	./web:FuzzForwarded \
	./web:FuzzLoginForm \
	./web:FuzzAPIQuery \
	./web:FuzzEventsQuery \
	./web:FuzzClientFrame \
	./web:FuzzSessionCookie \
	./web:FuzzDeviceName \
	./web:FuzzMatch \
	./web:FuzzOIDCFlow \
	./web:FuzzForwardedProto \
	./web:FuzzProxyGroups \
	./sipbridge/siptest:FuzzParseWAV \
	./sipbridge/siptest:FuzzReadNetstring \
	./cmd/switchboard:FuzzParseConfig \
	./cmd/switchboard:FuzzReplayInput

.PHONY: run build generate test install-test-deps vet lint unit allocs fuzz bench bench-media bench-fanout bench-cluster templ-check

# The binary `make build` writes and `make run` starts.
BIN ?= bin/switchboard

# What `switchboard version` tells of a build whose build information
# carries no version control stamp (GOFLAGS=-buildvcs=false, a git
# worktree): the commit, its time and whether the checkout has changes.
# Recursively expanded, so git runs only for a build.
VCS_LDFLAGS = -X main.vcsRevision=$(shell git rev-parse HEAD 2>/dev/null) \
	-X main.vcsTime=$(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null) \
	-X main.vcsModified=$(shell git status --porcelain 2>/dev/null | grep -q . && echo true || echo false)

# make run ARGS="--config switchboard.yaml --listen 0.0.0.0:8080": the
# server, without ARGS the built-in demo. The binary is built and then
# started by itself (not through `go run`, which exits 1 after its
# program stopped on Ctrl-C): Ctrl-C stops it in order, with status 0.
run: build
	$(BIN) serve $(ARGS)

build:
	$(GO) build -ldflags "$(VCS_LDFLAGS)" -o $(BIN) ./cmd/switchboard

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
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash testbed/fuzz.sh $(FUZZ_TARGETS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The media path's in-process parts: the SIP RTP leg, the page's audio into
# it, and the bridge both ways through pion (the README's Performance rows);
# the zero-allocation tests beside them; what the gateway keeps per call
# (100 calls held). Not part of `make test`.
bench-media:
	$(GO) test -count=1 -run 'TestRelayStepsDoNotAllocate|TestRTPLegAllocs|TestWritePacketAllocs' ./gateway ./sipbridge
	$(GO) test -run '^$$' -bench 'BenchmarkBridge|BenchmarkRelay|BenchmarkWritePacket' -benchmem -benchtime 2s ./gateway ./sipbridge
	$(GO) test -run '^$$' -bench BenchmarkCallMemory -benchtime 1x ./gateway -args -mem-calls 100

# The /events fan-out in process: the hub alone, and hub → real loopback
# sockets (the side-by-side load figures come from fanout-bench; README,
# Performance).
bench-fanout:
	$(GO) test -run '^$$' -bench 'BenchmarkHubFanout' -benchmem ./monitor
	$(GO) test -run '^$$' -bench 'BenchmarkEventsFanout' -benchtime 2000x -benchmem ./web
	$(GO) test -run '^$$' -bench 'BenchmarkEventsIdleMemory' -benchtime 3x ./web

# The fan-out through NATS: a Fritz!Box stand-in at a steady rate, 3000
# subscribers on three nodes joined through an in-process NATS server,
# next to one node alone in the same run (README, Performance and
# "Several nodes (NATS)"). Not part of `make test`.
bench-cluster:
	$(GO) test -run '^$$' -bench 'BenchmarkClusterFanout' -benchtime 600x ./monitor/cluster

test: install-test-deps vet lint unit allocs fuzz

# The zero-allocation tests of the media path once more without the race
# detector, under which sync.Pool drops items on purpose (the gateway's
# test skips itself there).
allocs:
	$(GO) test -count=1 -run 'Alloc' ./gateway ./sipbridge/...

lint:
	.tools/golangci-lint run ./...
