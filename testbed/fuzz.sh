#!/usr/bin/env bash
# Runs each fuzz target (package:Target) for FUZZTIME.
#
# Go 1.26's fuzz coordinator can report "context deadline exceeded" at the
# -fuzztime boundary when a worker is still inside a slow input
# (go.dev/issue/75804, fixed in Go 1.27): the target fails although no
# input failed. A real failure always writes the failing input to
# testdata/fuzz/<Target>/, so a target that failed without writing one is
# run once more; one that wrote one fails the run at once.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	for try in 1 2; do
		echo "fuzz $pkg $name for $FUZZTIME"
		touch "$marker"
		if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg"; then
			break
		fi
		if [ -d "$pkg/testdata/fuzz/$name" ] && [ -n "$(find "$pkg/testdata/fuzz/$name" -type f -newer "$marker")" ]; then
			echo "fuzz $name found a failing input: $(find "$pkg/testdata/fuzz/$name" -type f -newer "$marker")" >&2
			exit 1
		fi
		if [ "$try" = 2 ]; then
			echo "fuzz $name failed twice without a failing input" >&2
			exit 1
		fi
		echo "fuzz $name stopped without a failing input (the fuzz coordinator's deadline race, go.dev/issue/75804); once more"
	done
done
