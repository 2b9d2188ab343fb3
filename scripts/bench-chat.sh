#!/usr/bin/env bash
# Benchmarks sc-chat end to end: N lines (default 10,000) piped into `sc-chat connect` and shown
# by `sc-chat listen` over 127.0.0.1, timed from the start of the connecting side until it exits,
# which is after every line has its delivery receipt. Beside it, in the same run, the same lines
# through the bare tools the chat is made of (sc-handshake, then sc-seal -s into socat and
# sc-open -s out of it, no receipts), timed until sc-open has shown the last line. The ratio is
# what the chat layer (the bash supervisor, receipts, the chat lines) costs.
#
# Usage: scripts/bench-chat.sh BIN_DIR   (BIN_DIR holds sc-keygen, sc-handshake, sc-seal, sc-open)
#
# Knobs (environment): BENCH_CHAT_LINES (10000), BENCH_RUNS (3; the best run of each is
# reported), BENCH_CSV (a file to append the figures to, scripts/bench-record.sh). Only
# 127.0.0.1 is used; every file and process is removed on exit.
set -euo pipefail
export LC_ALL=C

me=bench-chat.sh
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 2
}
[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$(cd "$1" && pwd)
chat=$(cd "$(dirname "$0")/.." && pwd)/bin/sc-chat
lines=${BENCH_CHAT_LINES:-10000}
runs=${BENCH_RUNS:-3}
export PATH="$bin:$PATH"
for tool in sc-keygen sc-handshake sc-seal sc-open socat; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-chat.sh "$bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-chat.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
cd "$work"
mkdir run-a run-b
sc-keygen -o k.key 2>/dev/null
seq 1 "$lines" | sed 's/^/a line of a chat, number /' >input.txt
last="a line of a chat, number $lines"

free_port() {
  local port
  for port in $(shuf -i 20000-60000 -n 50); do
    if ! grep -qi ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp; then
      echo "$port"
      return
    fi
  done
  die "no free port"
}
wait_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  for _ in $(seq 200); do
    grep -qi ":$hex 00000000:0000 0A" /proc/net/tcp && return 0
    sleep 0.02
  done
  die "nothing listens on port $1"
}
now() { date +%s.%N; }

# One sc-chat run: seconds from start to the connecting side's exit (every line receipted).
chat_run() {
  local port start end
  port=$(free_port)
  rm -f b.out
  # The listener's input ends once its output shows the last line (b.out is read while written).
  # shellcheck disable=SC2094
  {
    for _ in $(seq 1200); do
      grep -qxF "$last" <(sed 's/^\[[0-9:]*\] alice: //' b.out 2>/dev/null) && break
      sleep 0.05
    done
  } | XDG_RUNTIME_DIR=$work/run-b "$chat" -n bob -k k.key listen "$port" >b.out 2>b.err &
  pids+=($!)
  wait_listening "$port"
  start=$(now)
  XDG_RUNTIME_DIR=$work/run-a "$chat" -n alice -k k.key connect 127.0.0.1 "$port" <input.txt >a.out 2>a.err ||
    die "sc-chat connect failed: $(tail -n 2 a.err)"
  end=$(now)
  wait "${pids[-1]}" || die "sc-chat listen failed: $(tail -n 2 b.err)"
  [ "$(grep -c '^sc-chat: delivered ' a.err)" -eq "$lines" ] || die "not every line was receipted"
  [ "$(grep -c '\] alice: a line' b.out)" -eq "$lines" ] || die "not every line was shown"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
}

# The bare tools: the same lines sealed and opened over socat, without the chat layer.
tools_run() {
  local port start end
  port=$(free_port)
  rm -f b.session a.session b.txt
  (
    coproc NET { exec socat - "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr"; }
    exec {IN}<&"${NET[0]}" {OUT}>&"${NET[1]}"
    sc-handshake --responder -k k.key -n bob -o b.session --timeout 30 <&"$IN" >&"$OUT" 2>/dev/null || exit 1
    sc-seal -s b.session </dev/null >&"$OUT" &
    sc-open -s b.session <&"$IN" >b.txt
  ) &
  pids+=($!)
  wait_listening "$port"
  start=$(now)
  (
    coproc NET { exec socat - "TCP:127.0.0.1:$port"; }
    exec {IN}<&"${NET[0]}" {OUT}>&"${NET[1]}"
    sc-handshake --initiator -k k.key -n alice -o a.session <&"$IN" >&"$OUT" 2>/dev/null || exit 1
    sc-open -s a.session <&"$IN" >/dev/null &
    sc-seal -s a.session <input.txt >&"$OUT"
    wait
  ) || die "the bare tools failed"
  wait "${pids[-1]}" || die "the bare listener failed"
  end=$(now)
  cmp -s b.txt input.txt || die "the bare tools lost lines"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
}

best() { printf '%s\n' "$@" | sort -g | head -n 1; }
chat_times=()
tools_times=()
for _ in $(seq "$runs"); do
  chat_times+=("$(chat_run)")
  tools_times+=("$(tools_run)")
done
chat_best=$(best "${chat_times[@]}")
tools_best=$(best "${tools_times[@]}")
awk -v n="$lines" -v r="$runs" -v c="$chat_best" -v t="$tools_best" -v cs="${chat_times[*]}" \
  -v ts="${tools_times[*]}" 'BEGIN {
    printf "sc-chat, %d lines each receipted: best of %d %.3f s = %.0f lines/s (runs: %s)\n", n, r, c, n / c, cs
    printf "bare sc-seal -s | socat | sc-open -s, same lines: best of %d %.3f s = %.0f lines/s (runs: %s)\n", r, t, n / t, ts
    printf "sc-chat takes %.1fx the time of the bare tools\n", c / t
  }'

# Figures for the CSV (BENCH_CSV; scripts/bench-record.sh): no target, information.
figure="sc-chat, $(bench_count "$lines") lines with receipts"
bench_measure "$figure" sc-chat "$(awk -v n="$lines" -v s="$chat_best" 'BEGIN { printf "%.0f", n / s }')" lines/s
bench_measure "$figure" "bare tools" "$(awk -v n="$lines" -v s="$tools_best" 'BEGIN { printf "%.0f", n / s }')" lines/s
bench_ratio "$figure" "sc-chat time / bare tools" "$(awk -v c="$chat_best" -v t="$tools_best" \
  'BEGIN { printf "%.2f", c / t }')" x "" ""
