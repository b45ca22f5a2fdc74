#!/usr/bin/env bash
# loadtest.sh: the documented benchmark workload (docs/benchmarks.md).
# Starts a fresh standalone pinned to one core and drives it with bin/sbload
# pinned to the other, then measures memory per idle connection. Every port
# is on loopback; every run is bounded by its --duration.
#
# Knobs (environment): CLIENTS ROOMS RATE DURATION SIZE IDLE_CLIENTS
# SERVER_CPU LOAD_CPU COMPRESSION=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-1000}
ROOMS=${ROOMS:-10}
RATE=${RATE:-3000}
DURATION=${DURATION:-30s}
SIZE=${SIZE:-100}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
EDGE_PORT=${EDGE_PORT:-22345}
AUTH_PORT=${AUTH_PORT:-29101}
CHAT_PORT=${CHAT_PORT:-29102}
export JWT_SECRET=${JWT_SECRET:-loadtest-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

data=$(mktemp -d)
pid=
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	rm -rf "$data"
}
trap cleanup EXIT

start_server() {
	DATA_DIR="$data" EDGE_ADDR="127.0.0.1:$EDGE_PORT" AUTH_ADDR="127.0.0.1:$AUTH_PORT" \
		CHAT_ADDR="127.0.0.1:$CHAT_PORT" LOG_LEVEL=warn \
		taskset -c "$SERVER_CPU" bin/switchboard 2>"$data/server.log" &
	pid=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$EDGE_PORT") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "standalone did not start:" >&2
	cat "$data/server.log" >&2
	exit 1
}

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB" >&2
start_server
echo "# fanout: $CLIENTS clients, $ROOMS rooms, $RATE msg/s, $DURATION, $SIZE B, server on cpu $SERVER_CPU" >&2
taskset -c "$LOAD_CPU" bin/sbload --addr "127.0.0.1:$EDGE_PORT" --chat-addr "127.0.0.1:$CHAT_PORT" \
	--clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
	--pid "$pid" ${COMPRESSION:+--compression}

if [[ "$IDLE_CLIENTS" -gt 0 ]]; then
	kill -TERM "$pid"; wait "$pid" || true
	rm -rf "${data:?}"/*.db
	start_server
	echo "# idle: $IDLE_CLIENTS authenticated connections" >&2
	taskset -c "$LOAD_CPU" bin/sbload --idle --addr "127.0.0.1:$EDGE_PORT" \
		--clients "$IDLE_CLIENTS" --duration 5s --pid "$pid"
fi
