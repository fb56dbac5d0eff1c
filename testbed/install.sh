#!/usr/bin/env bash
# Installs the real peers the test suite talks to, on a fresh Debian 12
# machine (run as root, or with sudo available): kamailio (registrar/proxy)
# and its presence modules (busy lamps: presence, presence_dialoginfo,
# pua_dialoginfo),
# baresip (far-end phone; without recommends that is baresip-core only),
# sip-tester (sipp), sox, chromium (+ a font for readable screenshots),
# postgresql (its server binaries, for the throw-away test clusters of
# monitor/history/pgtest; the cluster the package makes is not used),
# node + npm, and the npm packages of testbed/e2e (playwright-core, which
# drives the Debian chromium; no browser download).
# Idempotent: when everything is there it touches nothing and takes well
# under a second. Prints what it installs.
set -euo pipefail
cd "$(dirname "$0")"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have() { command -v "$1" >/dev/null 2>&1; }

pkgs=(kamailio kamailio-presence-modules baresip sip-tester sox chromium fonts-liberation ca-certificates postgresql)
need=()
for p in "${pkgs[@]}"; do
	installed "$p" || need+=("$p")
done
# node may come from elsewhere (e.g. NodeSource, whose nodejs bundles npm):
# install Debian's packages only for what is missing.
have node || need+=(nodejs)
have npm || need+=(npm)

if [ ${#need[@]} -gt 0 ]; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		have sudo || { echo "install.sh: need root to install: ${need[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	echo "installing Debian packages: ${need[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# testbed/e2e belongs to the browser tests; it may not exist yet.
if [ -f e2e/package.json ]; then
	stamp=e2e/node_modules/.package-lock.json
	if [ ! -d e2e/node_modules/playwright-core ] || { [ -f e2e/package-lock.json ] && [ e2e/package-lock.json -nt "$stamp" ]; }; then
		echo "installing npm packages in testbed/e2e"
		(cd e2e && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi) >/dev/null
	fi
else
	echo "testbed/e2e/package.json not found: skipping npm packages"
fi

# golangci-lint, pinned, built from the Go module proxy into .tools/ (not
# on PATH; `make lint` calls it). Rebuilt only when the version changes.
GOLANGCI_LINT_VERSION=v2.15.0
tools="$(cd .. && pwd)/.tools"
if [ "$("$tools/golangci-lint" version --short 2>/dev/null)" != "${GOLANGCI_LINT_VERSION#v}" ]; then
	echo "installing golangci-lint $GOLANGCI_LINT_VERSION into .tools/"
	mkdir -p "$tools"
	GOBIN="$tools" GOFLAGS=-mod=mod go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
echo "test peers ready: golangci-lint $("$tools/golangci-lint" version --short), kamailio $(ver kamailio), baresip $(ver baresip-core), sipp $(ver sip-tester), sox $(ver sox), postgresql $(ver postgresql), chromium $(ver chromium), node $(node --version 2>/dev/null || echo '?')"

