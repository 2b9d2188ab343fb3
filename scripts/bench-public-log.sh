#!/usr/bin/env bash
# Benchmarks of the public audit log (issue 16, docs/FORMATS.md §9.8; `make bench`; figures, not
# a test):
#   1. sc-logcheck -p on a public log of 10,000,000 entries with the default checkpoint spacing
#      (a checkpoint every 1000 entries), written by scripts/bench-public-log.py (Python's
#      hashlib and cryptography, per the format): target >= 1,000,000 entries/s; and its peak
#      RSS (the largest of the timed runs, from getrusage): target <= 16 MiB;
#   2. the writers' throughput in public mode against the symmetric mode: sc-seal -s --log with a
#      log-sign key and with a log-seal key, the same 1,000,000 lines of 100 bytes: target
#      public / symmetric >= 0.9;
#   3. the sizes of the key file and of sc-logcheck's state file after 1,000 and after
#      1,000,000 entries: constant in the log's length (but for the digits of the counts).
# Usage: scripts/bench-public-log.sh BIN_DIR. Knobs: BENCH_PUBLIC_LOG_ENTRIES (10000000),
# BENCH_PUBLIC_LOG_LINES (1000000), BENCH_PUBLIC_LOG_RUNS (3: best of), BENCH_CSV (a file to
# append the figures to, scripts/bench-record.sh). Works in /dev/shm (or BENCH_TMPFS), removed
# on exit. Exit status 0 when the benchmark ran, met or not.
set -euo pipefail
export LC_ALL=C

me=bench-public-log.sh
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 2
}
[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$(cd "$1" && pwd) || die "no directory $1"
scripts=$(cd "$(dirname "$0")" && pwd)
entries=${BENCH_PUBLIC_LOG_ENTRIES:-10000000}
lines=${BENCH_PUBLIC_LOG_LINES:-1000000}
runs=${BENCH_PUBLIC_LOG_RUNS:-3}
for knob in "$entries" "$lines" "$runs"; do
  case $knob in '' | *[!0-9]* | 0*) die "the BENCH_PUBLIC_LOG_* knobs take positive integers" ;; esac
done
[ "$lines" -ge 1000 ] || die "BENCH_PUBLIC_LOG_LINES must be at least 1000"
for tool in sc-keygen sc-handshake sc-seal sc-logcheck; do
  [ -x "$bin/$tool" ] || die "$bin/$tool not found or not executable (run \`make build\` first)"
done
python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null ||
  die "python3 with the cryptography package is needed to write the 10M-entry log"
# shellcheck source=scripts/bench-record.sh
. "$scripts/bench-record.sh"
bench_begin bench-public-log.sh "$bin"

work=""
mounted=""
# shellcheck source=scripts/bench-tmpfs.sh
. "$scripts/bench-tmpfs.sh"
handshakes=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  for pid in $handshakes; do kill "$pid" 2>/dev/null || true; done
  remove_work_dir
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# About 210 bytes an entry for the big log; 250 a line for the lines, their frames and two logs.
make_work_dir sc-bench-public-log $((entries * 210 / 1024 + lines * 1000 / 1024 + 65536))
cd "$work"

now() { python3 -c 'import time; print(time.perf_counter())'; }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$@"; }
rate() { python3 -c "import sys; n, t = map(float, sys.argv[1:]); print(f'{n / t:,.0f}')" "$@"; }

# --- 1. sc-logcheck -p on ENTRIES entries ------------------------------------------------------

start=$(now)
audit=$(python3 "$scripts/bench-public-log.py" "$entries" 1000 big.log)
end=$(now)
echo "generated:            $entries entries ($(($(wc -c <big.log) / 1048576)) MiB) in $(seconds "$start" "$end") s (python3)"
# Timed inside one python3 process, so that the interpreter's own start-up is not counted. Its
# only children are the sc-logcheck runs, so RUSAGE_CHILDREN's ru_maxrss (KiB) is their peak RSS.
result=$(python3 - "$bin/sc-logcheck" "$audit" "$runs" <<'PY'
import resource, subprocess, sys, time
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "-q", "-p", sys.argv[2], "big.log"], check=True)
    times.append(time.perf_counter() - start)
print(f"{min(times):.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
)
best=${result% *}
check_rss=$(awk -v k="${result#* }" 'BEGIN { printf "%.1f", k / 1024 }')
check_rate=$(rate "$entries" "$best")
echo "sc-logcheck -p:       $entries entries, $((entries / 1001)) checkpoints in $best s (best of $runs) = $check_rate entries/s"
echo "sc-logcheck -p:       peak RSS $check_rss MiB"
rm -f big.log

# --- 2. Writers: public against symmetric ------------------------------------------------------

"$bin/sc-keygen" -o chat.key 2>/dev/null
mkfifo a2b b2a
(
  exec 3>a2b 4<b2a
  exec "$bin/sc-handshake" --initiator -k chat.key -n alice -o s.alice <&4 >&3 2>/dev/null
) &
handshakes="$handshakes $!"
(
  exec 4<a2b 3>b2a
  exec "$bin/sc-handshake" --responder -k chat.key -n bob -o s.bob <&4 >&3 2>/dev/null
) &
handshakes="$handshakes $!"
wait
handshakes=""
# 100 bytes a line, newline included.
python3 -c "
import sys
sys.stdout.buffer.write(b''.join(b'%08d the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog.\n' % i for i in range($lines)))
" >messages
[ "$(head -c 100 messages | wc -l)" -eq 1 ] || die "the lines are not 100 bytes long"

# write_log MODE: one logging session of the lines with a fresh key; its time in seconds.
write_log() {
  mode=$1
  rm -f "$mode.key" "$mode.verify" "$mode.log" s.copy
  if [ "$mode" = public ]; then
    "$bin/sc-keygen" --log --public -o "$mode.key" >"$mode.audit" 2>/dev/null
  else
    "$bin/sc-keygen" --log -o "$mode.key" --verify-key "$mode.verify" 2>/dev/null
  fi
  # Each sc-seal -s claims the session file it is given (docs/PROTOCOL.md §5): a copy a run.
  cp -p s.alice s.copy
  start=$(now)
  "$bin/sc-seal" -s s.copy --log "$mode.log" --log-key "$mode.key" <messages >/dev/null
  end=$(now)
  seconds "$start" "$end"
}
public_best=""
symmetric_best=""
run=0
while [ "$run" -lt "$runs" ]; do
  run=$((run + 1))
  # Alternated, so that the load of the machine falls on both alike.
  t=$(write_log symmetric)
  symmetric_best=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:] if x))" "$t" "$symmetric_best")
  t=$(write_log public)
  public_best=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:] if x))" "$t" "$public_best")
done
symmetric_entries=$(wc -l <symmetric.log)
public_entries=$(wc -l <public.log)
public_checkpoints=$(grep -c ' checkpoint - - ' public.log)
echo "writer, symmetric:    $symmetric_entries entries in $symmetric_best s (best of $runs) = $(rate "$symmetric_entries" "$symmetric_best") entries/s"
echo "writer, public:       $public_entries entries ($public_checkpoints checkpoints) in $public_best s (best of $runs) = $(rate "$public_entries" "$public_best") entries/s"
ratio=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$symmetric_best" "$public_best")
echo "writer ratio:         public / symmetric = $ratio (messages per second)"
"$bin/sc-logcheck" -q -p "$(cat public.audit)" public.log || die "the public writer's log does not verify"

# --- 3. Key file and state file sizes ----------------------------------------------------------

"$bin/sc-logcheck" -q -p "$(cat public.audit)" --state big.state public.log
big_key=$(wc -c <public.key)
big_state=$(wc -c <big.state)
head -n 1000 messages >small.messages
"$bin/sc-keygen" --log --public -o small.key >small.audit 2>/dev/null
cp -p s.alice s.copy
"$bin/sc-seal" -s s.copy --log small.log --log-key small.key <small.messages >/dev/null
"$bin/sc-logcheck" -q -p "$(cat small.audit)" --state small.state small.log
small_entries=$(wc -l <small.log)
echo "sizes after $small_entries entries:   key file $(wc -c <small.key) bytes, state file $(wc -c <small.state) bytes"
echo "sizes after $public_entries entries: key file $big_key bytes, state file $big_state bytes"

python3 - "$check_rate" "$ratio" "$(wc -c <small.key)" "$big_key" "$(wc -c <small.state)" "$big_state" <<'PY'
import sys
rate = float(sys.argv[1].replace(",", ""))
ratio = float(sys.argv[2])
small_key, big_key, small_state, big_state = map(int, sys.argv[3:])
# Constant but for the decimal digits of the counts in them (a few bytes).
sizes = abs(big_key - small_key) <= 16 and abs(big_state - small_state) <= 16
print("summary: sc-logcheck -p %s entries/s, target >= 1,000,000: %s; writer public/symmetric %.2f, target >= 0.9: %s;"
      " key and state sizes constant: %s" % (f"{rate:,.0f}", "PASS" if rate >= 1e6 else "MISS", ratio,
      "PASS" if ratio >= 0.9 else "MISS", "PASS" if sizes else "MISS"))
PY
echo "summary: sc-logcheck -p peak RSS $check_rss MiB, target <= 16 MiB: $(awk -v v="$check_rss" \
  'BEGIN { print (v <= 16 ? "PASS" : "MISS") }')"

# --- Figures for the CSV (BENCH_CSV; scripts/bench-record.sh) ----------------------------------

# pass VALUE OP TARGET: PASS or MISS.
pass() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print (ok ? "PASS" : "MISS") }'
}
figure="sc-logcheck -p, $(bench_count "$entries")-entry public log"
raw_check_rate=$(awk -v n="$entries" -v s="$best" 'BEGIN { printf "%.0f", n / s }')
bench_measure "$figure" "sc-logcheck -p" "$raw_check_rate" entries/s
bench_target "$figure" 1000000 entries/s ">= 1000000 entries/s"
bench_ratio "$figure" "sc-logcheck -p" "$raw_check_rate" entries/s ">= 1000000" "$(pass "$raw_check_rate" ">=" 1000000)"
# The peak RSS figure of bench.sh, one more tool.
bench_measure "peak RSS" "sc-logcheck -p $(bench_count "$entries")" "$check_rss" MiB
bench_ratio "peak RSS" "sc-logcheck -p $(bench_count "$entries")" "$check_rss" MiB "<= 16" "$(pass "$check_rss" "<=" 16)"
bench_target "peak RSS" 16 MiB "<= 16 MiB"
figure="log writers, $(bench_count "$lines") lines of 100 bytes"
public_rate=$(awk -v n="$lines" -v s="$public_best" 'BEGIN { printf "%.0f", n / s }')
symmetric_rate=$(awk -v n="$lines" -v s="$symmetric_best" 'BEGIN { printf "%.0f", n / s }')
bench_measure "$figure" public "$public_rate" lines/s
bench_measure "$figure" symmetric "$symmetric_rate" lines/s
bench_target "$figure" "$(awk -v v="$symmetric_rate" 'BEGIN { printf "%.0f", v * 0.9 }')" lines/s ">= 0.9 x symmetric"
bench_ratio "$figure" "public / symmetric" "$ratio" x ">= 0.9" "$(pass "$ratio" ">=" 0.9)"
small=$(bench_count 1000)
large=$(bench_count "$lines")
figure="key and state file sizes after $small and $large messages"
small_key=$(wc -c <small.key)
small_state=$(wc -c <small.state)
bench_measure "$figure" "key, $small" "$small_key" bytes
bench_measure "$figure" "key, $large" "$big_key" bytes
bench_measure "$figure" "state, $small" "$small_state" bytes
bench_measure "$figure" "state, $large" "$big_state" bytes
growth=$(awk -v a="$small_key" -v b="$big_key" -v c="$small_state" -v d="$big_state" \
  'BEGIN { x = b - a; if (x < 0) x = -x; y = d - c; if (y < 0) y = -y; print (x > y ? x : y) }')
bench_ratio "$figure" "largest change" "$growth" bytes "<= 16" "$(pass "$growth" "<=" 16)"
