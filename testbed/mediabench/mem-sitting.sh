#!/usr/bin/env bash
# Memory sitting: per round and N, Switchboard builds one after the other
# (and Janus, with GWS="janus before after"), PIN=1, SB_PROFILE=1; prints
# each run's row and the gateway's RSS, memory statistics in the steady
# window and after a collection, and goroutines.
# Usage (beside run.sh of the patched harness, README "Media path at load"):
#   CALLS="100 300" ROUNDS="1 2" SB_BEFORE=/tmp/sb-old SB_AFTER=/tmp/sb-new ./mem-sitting.sh
#   EXTRA_ENV="GOMEMLIMIT=128MiB" GWS=after CALLS=300 ROUNDS=1 ./mem-sitting.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/mem-sitting}
mkdir -p "$OUT"
for r in ${ROUNDS:-1 2}; do
	for n in ${CALLS:-100 300}; do
		for gw in ${GWS:-before after}; do
			o=$OUT/$gw-$n-r$r
			echo "##### $(date -u +%T) $gw N=$n round $r load: $(cut -d' ' -f1-3 /proc/loadavg)"
			case $gw in
			janus) env OUT="$o" GATEWAY=janus EVENT_LOOPS=1 PIN=1 CALLS="$n" "$HERE/run.sh" >"$o.txt" 2>&1 ;;
			before) bin=${SB_BEFORE:?SB_BEFORE: the build before} ;;
			after) bin=${SB_AFTER:?SB_AFTER: the build after} ;;
			*) echo "GWS: janus, before or after, not $gw" >&2; exit 2 ;;
			esac
			if [[ $gw != janus ]]; then
				# shellcheck disable=SC2086 # EXTRA_ENV is NAME=VALUE words
				env OUT="$o" GATEWAY=switchboard PIN=1 CALLS="$n" SB_BIN="$bin" SB_PROFILE=1 \
					SWITCHBOARD_PPROF_LISTEN=127.0.0.1:6060 ${EXTRA_ENV:-} "$HERE/run.sh" >"$o.txt" 2>&1
			fi
			grep -E '^ROW' "$o.txt" | sed "s/^/$gw r$r /"
			m=$(ls "$o"/memstats-switchboard-*.txt 2>/dev/null | head -1)
			g=$(ls "$o"/memstats-gc-*.txt 2>/dev/null | head -1)
			if [[ -n $m && -n $g ]]; then
				echo "$gw r$r N=$n $(grep VmRSS "$o"/status-*.txt | tr -s ' \t' ' ')" \
					"$(grep -E '^# (HeapAlloc|HeapInuse|NextGC|Stack) ' "$m" | tr '\n' ' ')" \
					"after-gc: $(grep -E '^# (HeapAlloc|HeapInuse|Stack) ' "$g" | tr '\n' ' ')" \
					"goroutines=$(head -1 "$o"/goroutine-*.txt | awk '{print $NF}')" \
					"$(grep 'RSS before the run' "$o.txt")"
			fi
		done
	done
done
