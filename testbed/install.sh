#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: the real
# peers (kamailio, baresip, sipp, sox, chromium) and Playwright's driver
# from npm. Idempotent and quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")"

need=()
for pair in kamailio:kamailio baresip:baresip sipp:sip-tester sox:sox chromium:chromium node:nodejs; do
	bin=${pair%%:*} pkg=${pair##*:}
	command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing Debian packages: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f e2e/package.json ]; then
	if [ ! -d e2e/node_modules/playwright-core ]; then
		echo "installing npm packages in testbed/e2e"
		(cd e2e && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
	fi
fi
echo "test peers ready: $(kamailio -v 2>/dev/null | head -1 | awk '{print $1, $2}'), baresip, $(sipp -v 2>/dev/null | grep -o 'SIPp v[0-9.]*' | head -1), $(chromium --version 2>/dev/null)"
