#!/usr/bin/env bash
# One sitting: for each N, the gateways of GWS one after the other, PIN=1:
# janus (event_loops=1), before (SB_BEFORE), after (SB_AFTER), mux (SB_AFTER
# with udp_port).
# Usage (beside run.sh of the patched harness, README "Media path at load"):
#   CALLS="100 200" RUNTAG=s1 SB_BEFORE=/tmp/sb-old SB_AFTER=/tmp/sb-new ./sitting.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/media2-sitting}
mkdir -p "$OUT"
for n in $CALLS; do
	for gw in ${GWS:-janus before mux}; do
		echo "##### $(date -u +%T) $gw N=$n load: $(cut -d' ' -f1-3 /proc/loadavg)"
		case $gw in
		janus) env OUT=$OUT/$gw-$RUNTAG GATEWAY=janus EVENT_LOOPS=1 PIN=1 CALLS=$n "$HERE/run.sh" >"$OUT/$gw-$n-$RUNTAG.txt" 2>&1 ;;
		before) env OUT=$OUT/$gw-$RUNTAG GATEWAY=switchboard PIN=1 CALLS=$n SB_BIN=${SB_BEFORE:-/tmp/sb-media2-before} "$HERE/run.sh" >"$OUT/$gw-$n-$RUNTAG.txt" 2>&1 ;;
		after) env OUT=$OUT/$gw-$RUNTAG GATEWAY=switchboard PIN=1 CALLS=$n SB_BIN=${SB_AFTER:-/tmp/sb-media2-mux} "$HERE/run.sh" >"$OUT/$gw-$n-$RUNTAG.txt" 2>&1 ;;
		mux) env OUT=$OUT/$gw-$RUNTAG GATEWAY=switchboard PIN=1 CALLS=$n SB_UDP_PORT=30000 SB_BIN=${SB_AFTER:-/tmp/sb-media2-mux} "$HERE/run.sh" >"$OUT/$gw-$n-$RUNTAG.txt" 2>&1 ;;
		esac
		grep -E '^ROW|udp counters' "$OUT/$gw-$n-$RUNTAG.txt" | sed "s/^/$gw $RUNTAG /"
	done
done
