#!/bin/bash
# `make fuzz`: builds the libFuzzer targets (Sources/sc-fuzz, docs/TESTING.md) with the fuzzer and
# AddressSanitizer, makes seed corpora from docs/vectors, runs every target for FUZZ_SECONDS
# (default 60) and prints per target the executions, executions per second and coverage, then
# the total. Fails if any target crashed; the inputs are kept under $FUZZ_DIR/crashes/TARGET/.
#
#   FUZZ_SECONDS=600 make fuzz                 longer runs
#   FUZZ_TARGETS="armor key-file" make fuzz    some targets only (sc-fuzz --list names them)
#   FUZZ_JOBS=1 make fuzz                      one target at a time (default: one per core, at most 2)
#
# The corpus each target builds up is kept in $FUZZ_DIR/corpus/TARGET and reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
scratch=.build-fuzz
dir=${FUZZ_DIR:-$scratch/runs}
cores=$(nproc 2>/dev/null || echo 1)
jobs=${FUZZ_JOBS:-$((cores < 2 ? 1 : 2))}
export SWIFT_BACKTRACE=enable=no
case $seconds in '' | *[!0-9]* | 0) echo "fuzz: FUZZ_SECONDS must be a whole number of seconds" >&2 && exit 2 ;; esac

# Optimised (2-9 times the executions of a debug build; -O keeps preconditions and overflow
# checks). --sanitize=fuzzer makes SwiftPM leave `main` to libFuzzer; the compiler keeps only the
# last -sanitize= it is given, so fuzzer and address go together in one.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
start=$(date +%s)
if ! swift build -c release --scratch-path "$scratch" --product sc-fuzz --sanitize=fuzzer \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >"$build_log" 2>&1; then
  grep -v 'ld.gold: warning' "$build_log" >&2
  echo "fuzz: the build failed" >&2
  exit 1
fi
fuzzer="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/sc-fuzz"
echo "fuzz: built $fuzzer in $(($(date +%s) - start)) s"

rm -rf "$dir/seeds" "$dir/logs"
mkdir -p "$dir/corpus" "$dir/crashes" "$dir/logs"
"$fuzzer" --seeds docs/vectors "$dir/seeds" >/dev/null
read -r -a targets <<<"${FUZZ_TARGETS:-$("$fuzzer" --list | cut -f1 | tr '\n' ' ')}"

run_target() {
  local target=$1
  mkdir -p "$dir/corpus/$target" "$dir/crashes/$target"
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: a hostile length that allocates.
  SC_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$dir/crashes/$target/" \
    "$dir/corpus/$target" "$dir/seeds/$target" >"$dir/logs/$target.log" 2>&1
  echo $? >"$dir/logs/$target.status"
}

echo "fuzz: ${#targets[@]} targets, $seconds s each, $jobs at a time"
before=$(find "$dir/crashes" -type f | wc -l)
# Target i runs in queue i mod jobs; each queue runs its targets one after another.
for ((queue = 0; queue < jobs; queue++)); do
  (
    for ((i = queue; i < ${#targets[@]}; i += jobs)); do run_target "${targets[i]}" || true; done
  ) &
done
wait

total=0
failed=0
printf '%-16s %12s %9s %8s %8s %8s  %s\n' target execs execs/s cov ft corpus result
for target in "${targets[@]}"; do
  log="$dir/logs/$target.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corpus=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  status=$(cat "$dir/logs/$target.status" 2>/dev/null || echo missing)
  result=ok
  if [ "$status" != 0 ]; then
    result="FAILED (exit $status): $(grep -m 1 -E '^==[0-9]+==ERROR|^SUMMARY|Fatal error|deadly signal|ERROR: libFuzzer' "$log" || echo "see $log")"
    failed=$((failed + 1))
  fi
  total=$((total + ${execs:-0}))
  printf '%-16s %12s %9s %8s %8s %8s  %s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$result"
done
echo "fuzz: total $total executions in $(($(date +%s) - start)) s (build included)"

crashes=$(find "$dir/crashes" -type f | wc -l)
if [ "$failed" -ne 0 ] || [ "$crashes" -gt "$before" ]; then
  echo "fuzz: $failed targets failed; inputs in $dir/crashes (replay: SC_FUZZ_TARGET=TARGET $fuzzer FILE)" >&2
  find "$dir/crashes" -type f -newer "$build_log" >&2
  exit 1
fi
