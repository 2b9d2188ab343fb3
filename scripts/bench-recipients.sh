#!/usr/bin/env bash
# Benchmarks files sealed to recipients (FORMATS.md §12.2) beside files sealed with a key file
# (`make bench`; figures, not a test), with the targets of issue 15:
#   1. sealing 1 GiB to one recipient, speed >= 0.95 x sealing with a pre-shared key (-k);
#   2. start-up of `sc-open -i` on a small file <= 1.5 x `age -d -i`.
# Throughput: best of 3 runs each, taking turns, input from a tmpfs, output to /dev/null.
# Start-up: hyperfine -N (no shell; BENCH_STARTUP_RUNS, 300), a 100-byte file, output to /dev/null.
#
# Usage: scripts/bench-recipients.sh BIN_DIR   (BIN_DIR holds sc-keygen, sc-seal and sc-open)
# Knobs: BENCH_RECIPIENT_MIB (1024), BENCH_CSV (a file to append the figures to,
# scripts/bench-record.sh). Every file is removed on exit.
set -euo pipefail
export LC_ALL=C

me=bench-recipients.sh
[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$(cd "$1" && pwd)
mib=${BENCH_RECIPIENT_MIB:-1024}
runs=${BENCH_STARTUP_RUNS:-300}
for tool in age age-keygen hyperfine; do
  command -v "$tool" >/dev/null || {
    printf '%s: error: %s not found (scripts/install-deps.sh installs it)\n' "$me" "$tool" >&2
    exit 2
  }
done
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-recipients.sh "$bin"
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/bench-recipients.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
cd "$work"
"$bin/sc-keygen" -o psk.key 2>/dev/null
"$bin/sc-keygen" --identity -o bob >bob.pub 2>/dev/null
age-keygen -o age.key 2>/dev/null
head -c "$((mib * 1024 * 1024))" /dev/urandom >input

seconds() { # seconds COMMAND...: wall time of one run
  local start end
  start=$(date +%s%N)
  "$@" <input >/dev/null
  end=$(date +%s%N)
  awk -v ns="$((end - start))" 'BEGIN { printf "%.3f", ns / 1e9 }'
}
best_k="" best_r=""
for _ in 1 2 3; do
  k=$(seconds "$bin/sc-seal" -k psk.key)
  r=$(seconds "$bin/sc-seal" -r "$(cat bob.pub)")
  best_k=$(awk -v a="$k" -v b="${best_k:-$k}" 'BEGIN { print (a < b ? a : b) }')
  best_r=$(awk -v a="$r" -v b="${best_r:-$r}" 'BEGIN { print (a < b ? a : b) }')
done
printf '1. sealing %d MiB to /dev/null, best of 3\n' "$mib"
awk -v k="$best_k" -v r="$best_r" -v m="$mib" 'BEGIN {
  printf "   sc-seal -k KEYFILE   %6.3f s  %7.1f MB/s\n", k, m * 1.048576 / k
  printf "   sc-seal -r PUBKEY    %6.3f s  %7.1f MB/s\n", r, m * 1.048576 / r
  printf "   summary: recipient / pre-shared key speed = %.3f (target >= 0.95)\n", k / r }'

head -c 100 /dev/urandom >small
"$bin/sc-seal" -r "$(cat bob.pub)" <small >small.sc
age -e -r "$(age-keygen -y age.key)" -o small.age small
hyperfine -N --style none --warmup 20 --runs "$runs" --export-csv startup.csv \
  -n "sc-open -i" "$bin/sc-open -i bob -o /dev/null small.sc" \
  -n "age -d -i" "age -d -i age.key -o /dev/null small.age" >/dev/null
mean() { awk -F , -v n="$1" '$1 == n { print $2 }' startup.csv; }
printf '2. start-up, opening a 100-byte file (hyperfine, %s runs, warm-up 20)\n' "$runs"
awk -v s="$(mean "sc-open -i")" -v a="$(mean "age -d -i")" 'BEGIN {
  printf "   sc-open -i   %.2f ms\n   age -d -i    %.2f ms\n", s * 1000, a * 1000
  printf "   summary: sc-open -i / age -d -i start-up = %.2f (target <= 1.5)\n", s / a }'

# Figures for the CSV (BENCH_CSV; scripts/bench-record.sh).
figure="sc-seal -r, $(bench_mib_label "$mib")"
k_mbps=$(awk -v k="$best_k" -v m="$mib" 'BEGIN { printf "%.1f", m * 1.048576 / k }')
r_mbps=$(awk -v r="$best_r" -v m="$mib" 'BEGIN { printf "%.1f", m * 1.048576 / r }')
seal_ratio=$(awk -v k="$best_k" -v r="$best_r" 'BEGIN { printf "%.3f", k / r }')
bench_measure "$figure" "sc-seal -r" "$r_mbps" MB/s
bench_measure "$figure" "sc-seal -k" "$k_mbps" MB/s
bench_target "$figure" "$(awk -v v="$k_mbps" 'BEGIN { printf "%.1f", v * 0.95 }')" MB/s ">= 0.95 x sc-seal -k"
bench_ratio "$figure" "-r / -k" "$seal_ratio" x ">= 0.95" \
  "$(awk -v v="$seal_ratio" 'BEGIN { print (v >= 0.95 ? "PASS" : "MISS") }')"
figure="start-up, sc-open -i on 100 bytes"
open_ms=$(awk -v s="$(mean "sc-open -i")" 'BEGIN { printf "%.3f", s * 1000 }')
age_ms=$(awk -v a="$(mean "age -d -i")" 'BEGIN { printf "%.3f", a * 1000 }')
open_ratio=$(awk -v s="$(mean "sc-open -i")" -v a="$(mean "age -d -i")" 'BEGIN { printf "%.2f", s / a }')
bench_measure "$figure" "sc-open -i" "$open_ms" ms
bench_measure "$figure" "age -d -i" "$age_ms" ms
bench_target "$figure" "$(awk -v v="$age_ms" 'BEGIN { printf "%.3f", v * 1.5 }')" ms "<= 1.5 x age -d -i"
bench_ratio "$figure" "sc-open -i / age -d -i" "$open_ratio" x "<= 1.5" \
  "$(awk -v v="$open_ratio" 'BEGIN { print (v <= 1.5 ? "PASS" : "MISS") }')"
