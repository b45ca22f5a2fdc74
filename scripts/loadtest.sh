#!/usr/bin/env bash
# loadtest.sh: the documented benchmark workload (docs/benchmarks.md).
# Runs the fanout workload against a fresh standalone and, with the same
# load, against the bare in-memory fanout server (bin/sbbare: no store, no
# gRPC), each pinned to one core with bin/sbload on the other, and prints
# one JSON line for each, labelled; then measures memory per idle
# connection. Every port is on loopback; every run is bounded by its
# --duration and --drain.
#
# Knobs (environment): CLIENTS ROOMS RATE DURATION SIZE SERVER_CPU LOAD_CPU
# COMPRESSION=1, PREJOIN=1 (members join through the chat service before
# connecting: big rooms; the bare server has quiet joins), BARE=0 (skip
# the bare server), IDLE_CLIENTS (a list, e.g.
# "10000 100000"; 0 skips; past PER_EDGE, 16000, on several edges), FANOUT=0 (skip the fanout runs), PPROF=FILE (a
# 10 s CPU profile of the standalone during its run; DURATION 20s or more).
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
BARE=${BARE:-1}
FANOUT=${FANOUT:-1}
EDGE_PORT=${EDGE_PORT:-22345}
AUTH_PORT=${AUTH_PORT:-29101}
CHAT_PORT=${CHAT_PORT:-29102}
BARE_PORT=${BARE_PORT:-22346}
PPROF_PORT=${PPROF_PORT:-29199}
export JWT_SECRET=${JWT_SECRET:-loadtest-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

# 100,000 connections need as many descriptors in the server and in sbload.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

data=$(mktemp -d)
pid=
stop_server() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	pid=
}
cleanup() {
	stop_server
	rm -rf "$data"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "server did not start:" >&2
	cat "$data/server.log" >&2
	exit 1
}

start_switchboard() {
	rm -rf "${data:?}"/*.db
	DATA_DIR="$data" EDGE_ADDR="127.0.0.1:$EDGE_PORT" AUTH_ADDR="127.0.0.1:$AUTH_PORT" \
		CHAT_ADDR="127.0.0.1:$CHAT_PORT" PPROF_ADDR="127.0.0.1:$PPROF_PORT" LOG_LEVEL=warn \
		taskset -c "$SERVER_CPU" bin/switchboard 2>"$data/server.log" &
	pid=$!
	wait_port "$EDGE_PORT"
}

start_bare() {
	taskset -c "$SERVER_CPU" bin/sbbare --addr "127.0.0.1:$BARE_PORT" 2>"$data/server.log" &
	pid=$!
	wait_port "$BARE_PORT"
}

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB" >&2
echo "# disk: $(dd if=/dev/zero of="$data/dsync" bs=4k count=500 oflag=dsync 2>&1 | tail -1)" >&2
rm -f "$data/dsync"

if [[ "$FANOUT" != 0 ]]; then
	echo "# fanout: $CLIENTS clients, $ROOMS rooms, $RATE msg/s, $DURATION, $SIZE B, server on cpu $SERVER_CPU" >&2
	start_switchboard
	if [[ -n "${PPROF:-}" ]]; then
		# 10 s, from once the clients are set up and sending (DURATION of
		# 20s or more).
		(sleep "$(( CLIENTS / 400 + 5 ))"; curl -s -o "$PPROF" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=10") &
	fi
	report=$(taskset -c "$LOAD_CPU" bin/sbload --addr "127.0.0.1:$EDGE_PORT" --chat-addr "127.0.0.1:$CHAT_PORT" \
		--clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
		--pid "$pid" ${COMPRESSION:+--compression} ${PREJOIN:+--prejoin})
	echo "switchboard $report"
	stop_server
	wait
	if [[ "$BARE" != 0 ]]; then
		start_bare
		report=$(taskset -c "$LOAD_CPU" bin/sbload --addr "127.0.0.1:$BARE_PORT" --chat-addr "" \
			--clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
			--pid "$pid" ${COMPRESSION:+--compression})
		echo "bare $report"
		stop_server
	fi
fi

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# idle_edges measures n idle connections spread over several edges: a
# process here may hold no more than RLIMIT_NOFILE descriptors (its hard
# limit cannot be raised without CAP_SYS_RESOURCE), so past PER_EDGE
# connections more edges (bin/edged, on the standalone's services) take
# them, each driven by its own sbload; the RSS is that of every server
# process, summed.
PER_EDGE=${PER_EDGE:-16000}
idle_edges() {
	local n=$1 k=$(( ($1 + PER_EDGE - 1) / PER_EDGE )) pids=() addrs=() loads=()
	start_switchboard
	pids+=("$pid") addrs+=("127.0.0.1:$EDGE_PORT")
	for i in $(seq 1 $((k - 1))); do
		port=$((EDGE_PORT + 10 * i))
		EDGE_ADDR="127.0.0.1:$port" EDGE_ID="edge-$i" AUTH_ADDR="127.0.0.1:$AUTH_PORT" CHAT_ADDR="127.0.0.1:$CHAT_PORT" \
			PRESENCE_ADDR=127.0.0.1:9103 SIGNALING_ADDR=127.0.0.1:9104 LOG_LEVEL=warn \
			taskset -c "$SERVER_CPU" bin/edged 2>"$data/edge$i.log" &
		pids+=($!) addrs+=("127.0.0.1:$port")
		wait_port "$port"
	done
	sleep 2
	local before=0 after=0
	for p in "${pids[@]}"; do before=$((before + $(rss_kib "$p"))); done
	echo "# idle: $n authenticated connections on $k edges" >&2
	for i in $(seq 0 $((k - 1))); do
		taskset -c "$LOAD_CPU" bin/sbload --idle --addr "${addrs[$i]}" --room-base $((i + 1)) \
			--clients $((n / k + (i < n % k))) --duration 60s --settle 1s >"$data/idle$i.json" 2>"$data/idle$i.err" &
		loads+=($!)
	done
	# Every sbload says "holding" once its clients are connected.
	for _ in $(seq 600); do
		[[ $(cat "$data"/idle*.err | grep -c holding) -ge $k ]] && break
		sleep 1
	done
	sleep 5
	for p in "${pids[@]}"; do after=$((after + $(rss_kib "$p"))); done
	local connected
	connected=$(grep -ho 'connected [0-9]*' "$data"/idle*.err | awk '{s += $2} END {print s}')
	printf 'idle {"clients":%d,"edges":%d,"connected":%d,"rss_before_kib":%d,"rss_after_kib":%d,"rss_per_conn_kib":%.2f}\n' \
		"$n" "$k" "$connected" "$before" "$after" "$(awk -v a="$after" -v b="$before" -v c="$connected" 'BEGIN { print (a - b) / c }')"
	kill -INT "${loads[@]}" 2>/dev/null || true
	wait "${loads[@]}" 2>/dev/null || true
	for p in "${pids[@]:1}"; do kill -TERM "$p"; done
	wait "${pids[@]:1}" 2>/dev/null || true
	stop_server
}

for n in $IDLE_CLIENTS; do
	[[ "$n" -gt 0 ]] || continue
	if [[ "$n" -gt "$PER_EDGE" ]]; then
		idle_edges "$n"
		continue
	fi
	start_switchboard
	echo "# idle: $n authenticated connections" >&2
	report=$(taskset -c "$LOAD_CPU" bin/sbload --idle --addr "127.0.0.1:$EDGE_PORT" \
		--clients "$n" --duration 5s --settle 5s --pid "$pid")
	echo "idle $report"
	stop_server
done
