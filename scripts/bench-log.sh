#!/bin/sh
# Benchmarks of the tamper-evident session log (`make bench`; figures, not a test):
#   1. sc-logcheck on a 1,000,000-entry log (target >= 1,000,000 entries/s);
#   2. the append rate of a logging session with evolving keys: streamed (many messages per
#      read, sealed under one lock) and interactive (one message per read: one lock, one key
#      file replacement per entry).
# Knobs: BENCH_LOG_ENTRIES (1000000), BENCH_LOG_INTERACTIVE (5000), BENCH_CSV (a file to append
# the figures to, scripts/bench-record.sh).
set -eu

bin=$(cd "${1:?usage: bench-log.sh BIN_DIR}" && pwd)
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-log.sh "$bin"
entries=${BENCH_LOG_ENTRIES:-1000000}
interactive=${BENCH_LOG_INTERACTIVE:-5000}
work=$(mktemp -d /dev/shm/sc-bench-log.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM HUP
cd "$work"

now() { python3 -c 'import time; print(time.perf_counter())'; }
rate() { python3 -c "import sys; n, a, b = map(float, sys.argv[1:]); print(f'{n / (b - a):,.0f}')" "$@"; }
# The same without the thousands separators, for the CSV.
raw_rate() { python3 -c "import sys; n, a, b = map(float, sys.argv[1:]); print(f'{n / (b - a):.0f}')" "$@"; }

# A session to log: two in-memory handshakes over fifos.
"$bin/sc-keygen" -o chat.key 2>/dev/null
mkfifo a2b b2a
( exec 3>a2b 4<b2a; "$bin/sc-handshake" --initiator -k chat.key -n alice -o s.alice <&4 >&3 2>/dev/null ) &
( exec 4<a2b 3>b2a; "$bin/sc-handshake" --responder -k chat.key -n bob -o s.bob <&4 >&3 2>/dev/null ) &
wait
# Each sc-seal -s claims the session file it is given (docs/PROTOCOL.md §5): one copy a run.
cp -p s.alice s.alice2

"$bin/sc-keygen" --log -o seal.key --verify-key verify.key 2>/dev/null
python3 -c "
import sys
sys.stdout.buffer.write(b''.join(b'message %d: the quick brown fox jumps over the lazy dog\n' % i for i in range($entries)))
" >messages

start=$(now)
"$bin/sc-seal" -s s.alice --log big.log --log-key seal.key <messages >/dev/null
end=$(now)
logged=$(wc -l <big.log)
streamed_rate=$(raw_rate "$logged" "$start" "$end")
echo "append, streamed:     $logged entries in $(python3 -c "print(f'{$end - $start:.2f}')") s = $(rate "$logged" "$start" "$end") entries/s"

"$bin/sc-keygen" --log -o seal2.key --verify-key verify2.key 2>/dev/null
start=$(now)
python3 -c "
import os, sys, time
for i in range($interactive):
    os.write(1, b'typed line %d\n' % i)
    time.sleep(0.00002)
" | "$bin/sc-seal" -s s.alice2 --log small.log --log-key seal2.key >/dev/null
end=$(now)
logged=$(wc -l <small.log)
interactive_rate=$(raw_rate "$logged" "$start" "$end")
echo "append, interactive:  $logged entries in $(python3 -c "print(f'{$end - $start:.2f}')") s = $(rate "$logged" "$start" "$end") entries/s (one read, lock and key replacement per message when input trickles)"

# Timed inside one python3 process, so that the interpreter's own start-up is not counted. Its
# only children are the sc-logcheck runs, so RUSAGE_CHILDREN's ru_maxrss (KiB) is their peak RSS.
result=$(python3 - "$bin/sc-logcheck" <<'PY'
import resource, subprocess, sys, time
times = []
for _ in range(3):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "-q", "-k", "verify.key", "big.log"], check=True)
    times.append(time.perf_counter() - start)
print(f"{min(times):.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
)
best=${result% *}
check_rss=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / 1024:.1f}')" "${result#* }")
big=$(wc -l <big.log)
verify_rate=$(python3 -c "print(f'{$big / $best:,.0f}')")
echo "sc-logcheck:          $big entries in $best s (best of 3) = $verify_rate entries/s, peak RSS $check_rss MiB"
python3 -c "
import sys
rate = $big / $best
print('summary: sc-logcheck %s entries/s, target >= 1,000,000: %s' % (f'{rate:,.0f}', 'PASS' if rate >= 1e6 else 'MISS'))
print('summary: sc-logcheck peak RSS $check_rss MiB, target <= 16 MiB: %s' % ('PASS' if $check_rss <= 16 else 'MISS'))
"

# Figures for the CSV (BENCH_CSV; scripts/bench-record.sh).
check_rate=$(raw_rate "$big" 0 "$best")
check_result=$(python3 -c "import sys; print('PASS' if float(sys.argv[1]) >= 1e6 else 'MISS')" "$check_rate")
figure="sc-logcheck -k, $(bench_count "$entries")-entry log"
bench_measure "$figure" "sc-logcheck -k" "$check_rate" entries/s
bench_target "$figure" 1000000 entries/s ">= 1000000 entries/s"
bench_ratio "$figure" "sc-logcheck -k" "$check_rate" entries/s ">= 1000000" "$check_result"
# The peak RSS figure of bench.sh, one more tool.
rss_result=$(python3 -c "import sys; print('PASS' if float(sys.argv[1]) <= 16 else 'MISS')" "$check_rss")
bench_measure "peak RSS" "sc-logcheck -k $(bench_count "$entries")" "$check_rss" MiB
bench_ratio "peak RSS" "sc-logcheck -k $(bench_count "$entries")" "$check_rss" MiB "<= 16" "$rss_result"
figure="log append, sc-seal -s --log"
bench_measure "$figure" streamed "$streamed_rate" entries/s
bench_measure "$figure" interactive "$interactive_rate" entries/s
