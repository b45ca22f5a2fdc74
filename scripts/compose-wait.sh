#!/usr/bin/env bash
# Waits until every container of a compose project is healthy, for at most
# WAIT_TIMEOUT seconds (default 120); prints their states and fails after.
# Usage: scripts/compose-wait.sh <compose command with -p and -f ...>
# (`make up` passes its own.)
set -euo pipefail
deadline=$((SECONDS + ${WAIT_TIMEOUT:-120}))
while :; do
	ids=$("$@" ps -q)
	states=""
	if [[ -n "$ids" ]]; then
		# shellcheck disable=SC2086 # one argument per id
		states=$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids)
	fi
	if [[ -n "$states" ]] && ! grep -qv ' healthy$' <<<"$states"; then
		echo "every container is healthy:"
		sed 's/^\//  /' <<<"$states"
		exit 0
	fi
	if ((SECONDS >= deadline)); then
		echo "not healthy after ${WAIT_TIMEOUT:-120}s:" >&2
		sed 's/^\//  /' <<<"$states" >&2
		exit 1
	fi
	sleep 1
done
