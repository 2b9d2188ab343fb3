#!/bin/bash
# `make soak`: the long versions of two tests that `make check` runs in small, against the
# release build of the tools (what `make install` ships; the tests find them through SC_BIN_DIR).
#
# - The hostile relay (Tests/SecureChatTests/HostileRelayTests.swift): SOAK_RUNS live sessions
#   over 127.0.0.1 (default 100,000), SOAK_JOBS at a time (default 16), each with mutations drawn
#   from its seed, which also picks the protocol version (about half pre-shared key, half
#   identities); the base seed is SOAK_SEED (default: the current time). It prints the count
#   of each mutation kind and of each outcome per version, the time, and every invariant
#   violation with the seed of its run; SOAK_REPLAY=SEED[,SEED...] runs only those runs again.
# - The load test (Tests/SecureChatTests/LoadTests.swift): LOAD_SESSIONS concurrent sessions
#   (default 200) of LOAD_MESSAGES messages each way (default 10,000); prints the time and the
#   memory of the tools.
#
# SOAK_ONLY=relay or SOAK_ONLY=load runs one of them; SOAK_SCRATCH=DIR builds in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
scratch=()
if [ -n "${SOAK_SCRATCH:-}" ]; then scratch=(--scratch-path "$SOAK_SCRATCH"); fi
export SOAK_RUNS="${SOAK_RUNS:-100000}"
SOAK_SEED="${SOAK_SEED:-$(date +%s)}"
export SOAK_SEED
export LOAD_SESSIONS="${LOAD_SESSIONS:-200}"
export LOAD_MESSAGES="${LOAD_MESSAGES:-10000}"

"$swift" build "${scratch[@]}" -c release --static-swift-stdlib
SC_BIN_DIR="$("$swift" build "${scratch[@]}" -c release --static-swift-stdlib --show-bin-path)"
export SC_BIN_DIR
"$swift" build "${scratch[@]}" --build-tests

case "${SOAK_ONLY:-}" in
  relay) filter='HostileRelayTests.testHostileRelayRuns' ;;
  load) filter='LoadTests' ;;
  *) filter='HostileRelayTests.testHostileRelayRuns|LoadTests' ;;
esac
if [ -n "${SOAK_REPLAY:-}" ]; then filter='HostileRelayTests.testHostileRelayRuns'; fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
"$swift" test "${scratch[@]}" --skip-build --disable-swift-testing --filter "$filter" 2>&1 | tee "$log" || status=$?
echo "soak: finished in $(($(date +%s) - start)) s with status $status (tools: $SC_BIN_DIR)"
seeds=$(grep -oE 'run seed 0x[0-9a-f]+' "$log" | sed 's/run seed //' | sort -u | paste -sd, - || true)
if [ -n "$seeds" ]; then
  echo "soak: invariant violations; to run those runs again: SOAK_REPLAY=$seeds make soak"
fi
exit "$status"
