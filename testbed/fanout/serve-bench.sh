#!/bin/sh
# serve-bench.sh: what fanout-bench's -server runs for Switchboard. The
# bench writes a minimal config (one fritz source, one viewer token) and
# starts "$0 serve --config FILE"; this adds the web_limits a load of
# 10 000 subscribers on one token and one loopback address needs, then
# becomes the server (exec keeps the PID the bench samples). The defaults
# stay as they are for real deployments.
#
#   SWITCHBOARD=/tmp/switchboard fanout-bench -server testbed/fanout/serve-bench.sh ...
set -eu
bin=${SWITCHBOARD:-/tmp/switchboard}
cfg=""
prev=""
for a in "$@"; do
	[ "$prev" = "--config" ] && cfg=$a
	prev=$a
done
# The bench's stand-in Fritz!Box takes any new connection as the link and
# closes the one before: the source's health probe (a second connection
# after health_interval without a line, 10 s by default) would cut the link
# during a long idle phase (-wait-idle, -settle) and lose the first lines
# of the load. A quiet box is normal here, so the probe waits 10 minutes.
if [ -n "$cfg" ] && ! grep -q 'health_interval:' "$cfg"; then
	sed -i 's/^\(  *\)type: fritz$/&\n\1health_interval: 10m/' "$cfg"
fi
if [ -n "$cfg" ] && ! grep -q '^web_limits:' "$cfg"; then
	cat >>"$cfg" <<'YAML'
web_limits:
  max_connections: 30000
  max_connections_per_address: 30000
  max_sockets: 30000
  max_events_per_token: 30000
YAML
fi
exec "$bin" "$@"
