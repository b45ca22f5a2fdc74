#!/usr/bin/env bash
# loadtest.sh: the documented benchmark workload (docs/benchmarks.md).
# Runs the fanout workload against a fresh standalone and, with the same
# load, against the bare in-memory fanout server (bin/sbbare: no store, no
# gRPC), each pinned to one core with bin/sbload on the other, and prints
# one JSON line for each, labelled; then measures memory per idle
# connection. By default: 1,000 clients in 10 rooms of 100 sending 10,000
# messages/s of 100 bytes for 30 s (1,000,000 deliveries/s), then 10,000
# and 100,000 idle connections. Every port is on loopback; every run is
# bounded by its --duration and --drain.
#
# Knobs (environment): CLIENTS ROOMS RATE DURATION SIZE SERVER_CPU LOAD_CPU
# COMPRESSION=1, PREJOIN=1 (members join through the chat service before
# connecting: big rooms; the bare server has quiet joins), BARE=0 (skip
# the bare server), IDLE_CLIENTS (a list, e.g. "10000 100000"; 0 skips),
# FANOUT=0 (skip the fanout runs), PPROF=FILE (a 10 s CPU profile of the
# standalone during its run; DURATION 20s or more), PER_EDGE (16000: the
# connections of one server process; past it, several edges or bare
# servers, all on the server's core, and sbload --workers), STALLED
# (clients beyond CLIENTS that join the rooms and never read, in the
# Switchboard run only: how many the edge closed as slow consumers; 0),
# SILENT_CLIENTS (a list, e.g. "10000"; empty skips: connections that
# never send CONNECT, how soon the edge closes them, at its
# EDGE_AUTH_TIMEOUT, and their memory).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-1000}
ROOMS=${ROOMS:-10}
RATE=${RATE:-10000}
DURATION=${DURATION:-30s}
SIZE=${SIZE:-100}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000 100000}
SILENT_CLIENTS=${SILENT_CLIENTS:-}
STALLED=${STALLED:-0}
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
# The server's processes and the edge addresses they listen on.
pids=()
addrs=()
stop_servers() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	pids=() addrs=()
}
cleanup() {
	stop_servers
	rm -rf "$data"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "server did not start:" >&2
	cat "$data"/*.log >&2
	exit 1
}

# PER_EDGE bounds the connections of one server process: a process here
# may hold no more than RLIMIT_NOFILE descriptors (its hard limit cannot
# be raised without CAP_SYS_RESOURCE), so past it more edges (bin/edged,
# on the standalone's services) or more bare servers take the clients,
# each from its own sbload worker, all on the server's core.
PER_EDGE=${PER_EDGE:-16000}
processes_for() { echo $(( ($1 + PER_EDGE - 1) / PER_EDGE )); }

# start_switchboard K: the standalone, and K-1 more edges on its services.
start_switchboard() {
	rm -rf "${data:?}"/*.db
	DATA_DIR="$data" EDGE_ADDR="127.0.0.1:$EDGE_PORT" AUTH_ADDR="127.0.0.1:$AUTH_PORT" \
		CHAT_ADDR="127.0.0.1:$CHAT_PORT" PPROF_ADDR="127.0.0.1:$PPROF_PORT" LOG_LEVEL=warn \
		taskset -c "$SERVER_CPU" bin/switchboard 2>"$data/server.log" &
	pids+=($!) addrs+=("127.0.0.1:$EDGE_PORT")
	wait_port "$EDGE_PORT"
	local i port
	for i in $(seq 1 $(( ${1:-1} - 1 ))); do
		port=$((EDGE_PORT + 10 * i))
		EDGE_ADDR="127.0.0.1:$port" EDGE_ID="edge-$i" AUTH_ADDR="127.0.0.1:$AUTH_PORT" CHAT_ADDR="127.0.0.1:$CHAT_PORT" \
			PRESENCE_ADDR=127.0.0.1:9103 SIGNALING_ADDR=127.0.0.1:9104 PPROF_ADDR="127.0.0.1:$((PPROF_PORT + i))" LOG_LEVEL=warn \
			taskset -c "$SERVER_CPU" bin/edged 2>"$data/edge$i.log" &
		pids+=($!) addrs+=("127.0.0.1:$port")
		wait_port "$port"
	done
}

# start_bare K: K bare fanout servers.
start_bare() {
	local i port
	for i in $(seq 0 $(( ${1:-1} - 1 ))); do
		port=$((BARE_PORT + 10 * i))
		taskset -c "$SERVER_CPU" bin/sbbare --addr "127.0.0.1:$port" 2>"$data/bare$i.log" &
		pids+=($!) addrs+=("127.0.0.1:$port")
		wait_port "$port"
	done
}

joined() { local IFS=,; echo "$*"; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB" >&2
echo "# disk: $(dd if=/dev/zero of="$data/dsync" bs=4k count=500 oflag=dsync 2>&1 | tail -1)" >&2
rm -f "$data/dsync"

if [[ "$FANOUT" != 0 ]]; then
	k=$(processes_for "$CLIENTS")
	echo "# fanout: $CLIENTS clients, $ROOMS rooms, $RATE msg/s, $DURATION, $SIZE B, server on cpu $SERVER_CPU ($k edges)" >&2
	start_switchboard "$k"
	if [[ -n "${PPROF:-}" ]]; then
		# 10 s, from once the clients are set up and sending (DURATION of
		# 20s or more).
		(sleep "$(( CLIENTS / 400 + 5 ))"; curl -s -o "$PPROF" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=10") &
	fi
	report=$(taskset -c "$LOAD_CPU" bin/sbload --workers "$k" --addr "$(joined "${addrs[@]}")" --chat-addr "127.0.0.1:$CHAT_PORT" \
		--clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
		--pid "$(joined "${pids[@]}")" --stalled "$STALLED" ${COMPRESSION:+--compression} ${PREJOIN:+--prejoin})
	echo "switchboard $report"
	stop_servers
	wait
	if [[ "$BARE" != 0 ]]; then
		start_bare "$k"
		report=$(taskset -c "$LOAD_CPU" bin/sbload --workers "$k" --addr "$(joined "${addrs[@]}")" --chat-addr "" \
			--clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
			--pid "$(joined "${pids[@]}")" ${COMPRESSION:+--compression})
		echo "bare $report"
		stop_servers
	fi
fi

# idle measures n idle authenticated connections, on as many edges as
# PER_EDGE asks, each driven by its own sbload worker; the RSS is that of
# every server process, summed.
idle() {
	local n=$1 k report
	k=$(processes_for "$n")
	start_switchboard "$k"
	sleep 2
	echo "# idle: $n authenticated connections on $k edges" >&2
	report=$(taskset -c "$LOAD_CPU" bin/sbload --idle --workers "$k" --addr "$(joined "${addrs[@]}")" \
		--clients "$n" --settle 5s --duration 1s --pid "$(joined "${pids[@]}")")
	echo "idle $report"
	stop_servers
}

for n in $IDLE_CLIENTS; do
	if [[ "$n" -gt 0 ]]; then idle "$n"; fi
done

# silent opens n connections that never send CONNECT, on as many edges as
# PER_EDGE asks, and reports when the edges closed them (their
# EDGE_AUTH_TIMEOUT, 10 s by default: --duration bounds the wait past it)
# and the RSS of every server process before, held and after.
silent() {
	local n=$1 k report
	k=$(processes_for "$n")
	start_switchboard "$k"
	sleep 2
	echo "# silent: $n connections without CONNECT on $k edges" >&2
	report=$(taskset -c "$LOAD_CPU" bin/sbload --silent --workers "$k" --addr "$(joined "${addrs[@]}")" \
		--clients "$n" --duration 15s --pid "$(joined "${pids[@]}")")
	echo "silent $report"
	stop_servers
}

for n in $SILENT_CLIENTS; do
	if [[ "$n" -gt 0 ]]; then silent "$n"; fi
done
