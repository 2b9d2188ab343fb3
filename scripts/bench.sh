#!/usr/bin/env bash
# Benchmarks sc-seal and sc-open (`make bench`): throughput against `openssl enc` and age on a
# 1 GiB random file in a tmpfs, peak RSS (also of sc-keygen and of one sc-handshake), start-up
# time against age (sc-seal on empty input beside age -e, and `TOOL --version` of every tool
# beside `age --version`), and the share of CRC-32 in the time sc-open takes. Prints a summary
# with the targets and PASS/MISS for each figure; with BENCH_CSV set, also appends the figures
# to that file (scripts/bench-record.sh).
#
# Usage: scripts/bench.sh BIN_DIR      (BIN_DIR holds sc-keygen, sc-seal, sc-open, sc-handshake
#                                       and sc-logcheck)
#
# Exit status: 0 when the benchmark ran, whether or not every target was met; non-zero only if
# something broke (a tool failed, a round trip differed, a prerequisite is missing).
#
# Knobs (environment): BENCH_SIZE_MIB (default 1024), BENCH_RUNS (3 timed runs per command,
# best and median reported), BENCH_STARTUP_RUNS (300, for each start-up), BENCH_TMPFS (a tmpfs
# directory to work in; default /dev/shm, or a private tmpfs mounted for the run when /dev/shm
# is unusable and we are root), BENCH_RSS=poll (read VmHWM from /proc even when GNU time is
# there), BENCH_CSV (a file to append the figures to). Everything created is removed on exit,
# including on Ctrl-C.
set -euo pipefail
export LC_ALL=C

me=bench.sh
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 2
}

[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$1
size_mib=${BENCH_SIZE_MIB:-1024}
runs=${BENCH_RUNS:-3}
startup_runs=${BENCH_STARTUP_RUNS:-300}
startup_warmup=20
size_bytes=$((size_mib * 1024 * 1024))

# Targets (issue 17; the CRC-32 share from the performance issue).
target_seal_ratio=1.25   # sc-seal throughput >= 1.25 x openssl enc
target_open_ratio=1.5    # sc-open throughput >= 1.5 x age -d
target_rss_mib=16        # peak RSS of sc-seal, sc-open (big file), sc-keygen, sc-handshake
target_startup_ratio=1.3 # sc-seal start-up on empty input <= 1.3 x age -e
target_version_ratio=1.3 # start-up of TOOL --version <= 1.3 x age --version, for each tool
target_crc_percent=10    # CRC-32 <= 10 % of sc-open's wall time
tools=(sc-keygen sc-seal sc-open sc-handshake sc-logcheck)

for tool in "${tools[@]}"; do
  [ -x "$bin/$tool" ] || die "$bin/$tool not found or not executable (run \`make build\` first)"
done
missing=""
for command in openssl age age-keygen hyperfine cmp awk; do
  command -v "$command" >/dev/null 2>&1 || missing="$missing $command"
done
[ -z "$missing" ] || die "missing:$missing (scripts/install-deps.sh installs them)"
compiler=""
for candidate in "${CC:-}" cc gcc clang; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
    compiler=$candidate
    break
  fi
done

# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench.sh "$bin"
size_label=$(bench_mib_label "$size_mib")

# --- Work directory in a tmpfs, removed on any exit -------------------------------------------

# shellcheck source=scripts/bench-tmpfs.sh
. "$(dirname "$0")/bench-tmpfs.sh"

work=""
mounted=""
polled_pid="" # a tool running in the background while its RSS is polled
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ -n "$polled_pid" ]; then
    kill "$polled_pid" 2>/dev/null || true
    wait "$polled_pid" 2>/dev/null || true
  fi
  remove_work_dir
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Input, sealed file, openssl and age ciphertexts, one output at a time, plus slack.
needed_kib=$((5 * size_mib * 1024 + 256 * 1024))
make_work_dir sc-bench "$needed_kib"

# --- Helpers ----------------------------------------------------------------------------------

# Microseconds since the epoch, without forking.
usec() {
  local now=$EPOCHREALTIME
  printf '%s' "${now/./}"
}

# Peak RSS: GNU time's %M (KiB) if it works here, else VmHWM polled from /proc.
gnu_time=""
if [ "${BENCH_RSS:-}" != poll ] && [ -x /usr/bin/time ] && /usr/bin/time -f %M -o "$work/probe" true 2>/dev/null &&
  grep -Eq '^[0-9]+$' "$work/probe"; then
  gnu_time=/usr/bin/time
fi
rm -f -- "$work/probe"

# run_rss FILE COMMAND...: runs COMMAND, writes its peak RSS in KiB to FILE, returns its status.
run_rss() {
  local file=$1 status=0
  shift
  if [ -n "$gnu_time" ]; then
    "$gnu_time" -f %M -o "$file" "$@" || status=$?
    # On failure GNU time puts a "Command exited with non-zero status" line first.
    tail -n 1 -- "$file" >"$file.tmp" && mv -- "$file.tmp" "$file"
    return "$status"
  fi
  # VmHWM is the process's own high-water mark, so polling only misses growth in its last 10 ms.
  # <&0: a command started with & would otherwise read /dev/null, not our standard input.
  local peak=0 key value _
  "$@" <&0 &
  polled_pid=$!
  while kill -0 "$polled_pid" 2>/dev/null; do
    if [ -r "/proc/$polled_pid/status" ]; then
      while read -r key value _; do
        if [ "$key" = VmHWM: ] && [ "$value" -gt "$peak" ]; then peak=$value; fi
      done <"/proc/$polled_pid/status" 2>/dev/null || true
    fi
    sleep 0.01
  done
  wait "$polled_pid" || status=$?
  polled_pid=""
  printf '%s\n' "$peak" >"$file"
  return "$status"
}

declare -A times rss
# measure NAME OUTPUT COMMAND...: one timed run of COMMAND (which writes OUTPUT); records the
# wall time in seconds and the peak RSS, then removes OUTPUT (a fresh output file every run).
measure() {
  local name=$1 output=$2 start end kib
  shift 2
  rm -f -- "$output"
  start=$(usec)
  run_rss "$work/rss" "$@" || die "$name failed: $*"
  end=$(usec)
  kib=$(cat -- "$work/rss")
  times[$name]="${times[$name]:-} $(awk -v us=$((end - start)) 'BEGIN { printf "%.6f", us / 1e6 }')"
  if [ "$kib" -gt "${rss[$name]:-0}" ]; then rss[$name]=$kib; fi
  rm -f -- "$output"
}

# sorted NAME: the recorded times of NAME, fastest first, one a line.
sorted() {
  local -a list
  read -ra list <<<"${times[$1]}"
  printf '%s\n' "${list[@]}" | sort -g
}
# best NAME / median NAME: seconds.
best() { sorted "$1" | head -n 1; }
median() {
  local count
  count=$(sorted "$1" | wc -l)
  sorted "$1" | sed -n "$(((count + 1) / 2))p"
}
mbps() { awk -v b="$size_bytes" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
# verdict VALUE OP TARGET: PASS or MISS (OP is >= or <=).
verdict() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "PASS" : "MISS" }'
}
# CPU seconds used so far by the whole machine (every process, the kernel included), and by
# this script and its children: the difference tells whether something else ran meanwhile.
machine_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}
# own_cpu: sets own_cpu_seconds (not called as $(own_cpu): a subshell does not see our children).
own_cpu() {
  times >"$work/times"
  own_cpu_seconds=$(awk '{ for (i = 1; i <= NF; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
    END { printf "%.2f", s }' "$work/times")
}

# Single-quotes a word for the sh that hyperfine runs commands with.
shell_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

# --- Set-up: keys and the input file -----------------------------------------------------------

plain=$work/plain
sealed=$work/plain.sc
openssl_ct=$work/plain.enc
age_ct=$work/plain.age
out=$work/out
key=$work/bench.key
pass=$work/openssl.pass
identity=$work/age.identity

run_rss "$work/keygen.rss" "$bin/sc-keygen" -o "$key" 2>/dev/null || die "sc-keygen failed"
openssl rand -hex 32 >"$pass" || die "openssl rand failed"
age-keygen -o "$identity" 2>/dev/null || die "age-keygen failed"
recipient=$(age-keygen -y "$identity") || die "age-keygen -y failed"

seal=("$bin/sc-seal" -k "$key")
open=("$bin/sc-open" -k "$key")
enc=(openssl enc -aes-256-cbc -pbkdf2 -pass "file:$pass")
dec=(openssl enc -d -aes-256-cbc -pbkdf2 -pass "file:$pass")

load_start=$(cut -d ' ' -f 1 /proc/loadavg)
printf 'SecureChat benchmark: %s MiB random file in tmpfs (%s)\n' "$size_mib" "$work"
printf 'machine: %s CPUs, %s; %s; age %s; %s; load average %s\n' "$(nproc)" "$(uname -r)" \
  "$(openssl version | cut -d ' ' -f 1-2)" "$(age --version)" "$(hyperfine --version)" "$load_start"
if [ -n "$gnu_time" ]; then rss_method="GNU time %M"; else rss_method="VmHWM polled every 10 ms"; fi
printf 'peak RSS from %s\n' "$rss_method"

head -c "$size_bytes" /dev/urandom >"$plain" || die "cannot write the input file"

# --- 1 + 2. Throughput and peak RSS ------------------------------------------------------------

# Warm-up round: makes the ciphertexts the decryption runs read, checks every round trip, and
# absorbs one-off costs (in a VM, memory not touched for a while can cost several times more to
# write the first time; the timed runs are still exposed to that, hence best-of-N).
"${seal[@]}" -o "$sealed" "$plain" || die "sc-seal failed"
"${enc[@]}" -in "$plain" -out "$openssl_ct" || die "openssl enc failed"
age -e -r "$recipient" -o "$age_ct" "$plain" || die "age -e failed"
"${open[@]}" -o "$out" "$sealed" || die "sc-open failed on a file sc-seal made"
cmp -s -- "$plain" "$out" || die "round trip sc-seal | sc-open: output differs from the input"
rm -f -- "$out"
"${dec[@]}" -in "$openssl_ct" -out "$out" || die "openssl enc -d failed"
cmp -s -- "$plain" "$out" || die "round trip openssl enc: output differs"
rm -f -- "$out"
age -d -i "$identity" -o "$out" "$age_ct" || die "age -d failed"
cmp -s -- "$plain" "$out" || die "round trip age: output differs"
rm -f -- "$out"

# Timed rounds, interleaved so that background load hits every command alike.
machine_before=$(machine_cpu)
own_cpu
own_before=$own_cpu_seconds
wall_before=$(usec)
for _ in $(seq "$runs"); do
  measure sc-seal "$out" "${seal[@]}" -o "$out" "$plain"
  measure "openssl enc" "$out" "${enc[@]}" -in "$plain" -out "$out"
  measure "age -e" "$out" age -e -r "$recipient" -o "$out" "$plain"
  measure sc-open "$out" "${open[@]}" -o "$out" "$sealed"
  measure "openssl enc -d" "$out" "${dec[@]}" -in "$openssl_ct" -out "$out"
  measure "age -d" "$out" age -d -i "$identity" -o "$out" "$age_ct"
  # The verdict figure of the issue: decryption alone, the plaintext thrown away. (The second
  # argument is a scratch name for measure to remove, never /dev/null itself.)
  measure "sc-open >null" "$work/none" "${open[@]}" -o /dev/null "$sealed"
  measure "age -d >null" "$work/none" age -d -i "$identity" -o /dev/null "$age_ct"
done

machine_after=$(machine_cpu)
own_cpu
other_cpu=$(awk -v m="$machine_after" -v mb="$machine_before" -v o="$own_cpu_seconds" -v ob="$own_before" \
  'BEGIN { x = (m - mb) - (o - ob); printf "%.1f", x < 0 ? 0 : x }')
other_percent=$(awk -v x="$other_cpu" -v w=$(($(usec) - wall_before)) 'BEGIN { printf "%.0f", 100 * x / (w / 1e6) }')

printf '\n1. throughput, file -> file in tmpfs, and (>null) decryption to /dev/null (MB/s = 10^6 plaintext bytes/s; best of %s, median)\n' "$runs"
printf '   %-16s %9s %9s %9s %10s\n' command "best" "median" "best s" "peak RSS"
for name in sc-seal "openssl enc" "age -e" sc-open "openssl enc -d" "age -d" "sc-open >null" "age -d >null"; do
  printf '   %-16s %9s %9s %9.3f %6.1f MiB\n' "$name" "$(mbps "$(best "$name")")" \
    "$(mbps "$(median "$name")")" "$(best "$name")" "$(awk -v k="${rss[$name]}" 'BEGIN { print k / 1024 }')"
done
seal_ratio=$(awk -v a="$(best "openssl enc")" -v b="$(best sc-seal)" 'BEGIN { printf "%.2f", a / b }')
open_file_ratio=$(awk -v a="$(best "age -d")" -v b="$(best sc-open)" 'BEGIN { printf "%.2f", a / b }')
open_ratio=$(awk -v a="$(best "age -d >null")" -v b="$(best "sc-open >null")" 'BEGIN { printf "%.2f", a / b }')
printf '   sc-seal / openssl enc = %sx    sc-open / age -d = %sx (to /dev/null; file -> file %sx)\n' \
  "$seal_ratio" "$open_ratio" "$open_file_ratio"
printf '   round trips (cmp): sc-seal -> sc-open, openssl, age: identical\n'
printf '   other processes during the timed runs: %s CPU-seconds (%s %% of one core)\n' "$other_cpu" "$other_percent"

# --- 2. Peak RSS (measured during the timed runs above) ----------------------------------------

seal_rss=$(awk -v k="${rss[sc-seal]}" 'BEGIN { printf "%.1f", k / 1024 }')
open_rss=$(awk -v k="${rss[sc-open]}" 'BEGIN { printf "%.1f", k / 1024 }')
printf '\n2. peak RSS on the %s MiB file: sc-seal %s MiB, sc-open %s MiB\n' "$size_mib" "$seal_rss" "$open_rss"

# sc-keygen's was taken while it made the key above; sc-handshake's here, over one handshake
# between two processes joined by fifos (the larger of the two sides counts). Both live for a
# few milliseconds, too short for polling /proc: without GNU time they are not reported.
mkfifo "$work/a2b" "$work/b2a"
(
  exec 3>"$work/a2b" 4<"$work/b2a"
  run_rss "$work/initiator.rss" "$bin/sc-handshake" --initiator -k "$key" -n alice -o "$work/session.alice" \
    --timeout 10 <&4 >&3 2>/dev/null
) &
initiator=$!
(
  exec 4<"$work/a2b" 3>"$work/b2a"
  run_rss "$work/responder.rss" "$bin/sc-handshake" --responder -k "$key" -n bob -o "$work/session.bob" \
    --timeout 10 <&4 >&3 2>/dev/null
) &
responder=$!
status=0
wait "$initiator" || status=$?
wait "$responder" || status=$?
[ "$status" -eq 0 ] || die "sc-handshake failed (one handshake over fifos)"
rm -f -- "$work/a2b" "$work/b2a" "$work/session.alice" "$work/session.bob"
if [ -n "$gnu_time" ]; then
  keygen_rss=$(awk '{ printf "%.1f", $1 / 1024 }' "$work/keygen.rss")
  handshake_rss=$(cat -- "$work/initiator.rss" "$work/responder.rss" |
    awk '$1 > peak { peak = $1 } END { printf "%.1f", peak / 1024 }')
  printf '   sc-keygen (making a key file) %s MiB, sc-handshake (one handshake, larger side) %s MiB\n' \
    "$keygen_rss" "$handshake_rss"
else
  keygen_rss=""
  handshake_rss=""
  printf '   sc-keygen, sc-handshake: not measured (they live too briefly to poll; needs GNU time)\n'
fi

# --- 3. Start-up time --------------------------------------------------------------------------

seal_command="$(shell_quote "$bin/sc-seal") -k $(shell_quote "$key") </dev/null >/dev/null"
age_command="age -e -r $(shell_quote "$recipient") </dev/null >/dev/null"
hyperfine --style none --warmup "$startup_warmup" --runs "$startup_runs" \
  --export-csv "$work/startup.csv" -n sc-seal "$seal_command" -n "age -e" "$age_command" \
  >"$work/hyperfine.log" 2>&1 || {
  cat -- "$work/hyperfine.log" >&2
  die "hyperfine failed"
}
# CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
startup_field() { awk -F , -v n="$1" -v f="$2" '$1 == n { print $f }' "$work/startup.csv"; }
seal_mean=$(startup_field sc-seal 2)
age_mean=$(startup_field "age -e" 2)
startup_ratio=$(awk -v a="$seal_mean" -v b="$age_mean" 'BEGIN { printf "%.2f", a / b }')
printf '\n3. start-up, empty input (hyperfine, %s runs, warm-up %s, shell spawn subtracted)\n' \
  "$startup_runs" "$startup_warmup"
for name in sc-seal "age -e"; do
  awk -v n="$name" -v m="$(startup_field "$name" 2)" -v s="$(startup_field "$name" 3)" \
    -v med="$(startup_field "$name" 4)" -v u="$(startup_field "$name" 5)" -v y="$(startup_field "$name" 6)" \
    'BEGIN { printf "   %-8s mean %5.2f ms +- %4.2f  (median %5.2f, user %5.2f, system %5.2f)\n",
      n, m * 1e3, s * 1e3, med * 1e3, u * 1e3, y * 1e3 }'
done
printf '   sc-seal / age -e = %sx\n' "$startup_ratio"

# TOOL --version of every tool beside age --version, without a shell in between (-N).
version_commands=()
for tool in "${tools[@]}"; do version_commands+=(-n "$tool" "$(shell_quote "$bin/$tool") --version"); done
hyperfine -N --style none --warmup "$startup_warmup" --runs "$startup_runs" \
  --export-csv "$work/version.csv" "${version_commands[@]}" -n age "age --version" \
  >"$work/hyperfine.log" 2>&1 || {
  cat -- "$work/hyperfine.log" >&2
  die "hyperfine -N failed"
}
version_field() { awk -F , -v n="$1" -v f="$2" '$1 == n { print $f }' "$work/version.csv"; }
age_version_mean=$(version_field age 2)
declare -A version_ratio
printf '\n   TOOL --version (hyperfine -N, no shell; %s runs, warm-up %s)\n' "$startup_runs" "$startup_warmup"
for name in "${tools[@]}" age; do
  if [ "$name" != age ]; then
    version_ratio[$name]=$(awk -v a="$(version_field "$name" 2)" -v b="$age_version_mean" \
      'BEGIN { printf "%.2f", a / b }')
  fi
  awk -v n="$name" -v m="$(version_field "$name" 2)" -v s="$(version_field "$name" 3)" \
    -v med="$(version_field "$name" 4)" -v r="${version_ratio[$name]:-}" \
    'BEGIN { printf "   %-12s mean %5.2f ms +- %4.2f  (median %5.2f)%s\n", n, m * 1e3, s * 1e3, med * 1e3,
      r == "" ? "" : sprintf("  %s / age = %sx", n, r) }'
done

# --- 4. CRC-32 share of sc-open ----------------------------------------------------------------

# Times libdeflate_crc32 over every frame of the sealed file exactly as sc-open checks it
# (FORMATS.md §2.4 step 4: bytes 0 .. 63+L of each frame). The file is read the way sc-open
# reads it (read(2) into a 1 MiB + one-frame queue, so each frame is as fresh in the cache as it
# is for sc-open); only the CRC calls are timed; each result is checked against the stored CRC,
# so it is sure to time the same computation.
crc_percent=""
crc_note=""
if [ -z "$compiler" ]; then
  crc_note="no C compiler (cc, gcc, clang): skipped"
else
  cat >"$work/crc.c" <<'EOF'
#include <fcntl.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FILE_HEADER = 72, MIN_FRAME = 84, MAX_FRAME = 65620, QUEUE = (1 << 20) + MAX_FRAME };

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One pass over the file: seconds spent in libdeflate_crc32 (and the frame count), or -1. */
static double pass(const char *path, unsigned char *queue, size_t *frames) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); return -1; }
  size_t start = 0, end = 0, count = 0;
  int header_done = 0, at_end = 0;
  double crc_time = 0;
  for (;;) {
    if (!header_done && end - start >= FILE_HEADER) { start += FILE_HEADER; header_done = 1; }
    while (header_done && end - start >= MIN_FRAME) {
      const unsigned char *f = queue + start;
      uint32_t length = be32(f + 12);
      if (length < 16 || length > 65552 || length % 16) { fprintf(stderr, "bad frame length\n"); return -1; }
      if (end - start < 68 + (size_t)length) break;
      double t0 = now();
      uint32_t crc = libdeflate_crc32(0, f, 64 + (size_t)length);
      crc_time += now() - t0;
      if (crc != be32(f + 64 + length)) { fprintf(stderr, "CRC mismatch in frame %zu\n", count); return -1; }
      start += 68 + (size_t)length;
      count++;
    }
    if (at_end) break;
    if (start > 0 && (start == end || QUEUE - end < MAX_FRAME)) {
      memmove(queue, queue + start, end - start);
      end -= start;
      start = 0;
    }
    ssize_t n = read(fd, queue + end, QUEUE - end);
    if (n < 0) { perror("read"); return -1; }
    if (n == 0) at_end = 1;
    end += (size_t)n;
  }
  close(fd);
  if (start != end || !header_done) { fprintf(stderr, "not a whole sealed file\n"); return -1; }
  *frames = count;
  return crc_time;
}

int main(int argc, char **argv) {
  int passes = argc == 3 ? atoi(argv[2]) : 0;
  unsigned char *queue = malloc(QUEUE);
  if (passes < 1 || !queue) return 2;
  double best = 1e30;
  size_t frames = 0;
  for (int i = 0; i < passes; i++) {
    double t = pass(argv[1], queue, &frames);
    if (t < 0) return 1;
    if (t < best) best = t;
  }
  printf("%.6f %zu\n", best, frames);
  return 0;
}
EOF
  "$compiler" -O2 -o "$work/crc" "$work/crc.c" -ldeflate 2>"$work/cc.log" || {
    cat -- "$work/cc.log" >&2
    die "cannot compile the CRC benchmark (needs libdeflate-dev)"
  }
  crc_result=$("$work/crc" "$sealed" 3) || die "CRC benchmark failed on the sealed file"
  crc_seconds=${crc_result% *}
  crc_frames=${crc_result#* }
  crc_percent=$(awk -v c="$crc_seconds" -v o="$(best sc-open)" 'BEGIN { printf "%.1f", 100 * c / o }')
  printf '\n4. CRC-32 (libdeflate_crc32) over the %s frames of the sealed file, read as sc-open reads it, best of 3\n' "$crc_frames"
  printf '   %.3f s = %s GB/s; sc-open best %.3f s -> CRC share %s %%\n' "$crc_seconds" \
    "$(awk -v c="$crc_seconds" -v b="$(stat -c %s "$sealed")" 'BEGIN { printf "%.1f", b / c / 1e9 }')" \
    "$(best sc-open)" "$crc_percent"
fi

# --- Summary -----------------------------------------------------------------------------------

printf '\nsummary\n'
row() { printf '  %-40s %12s  %-11s %s\n' "$@"; }
row figure measured target result
row "sc-seal / openssl enc throughput" "${seal_ratio}x" ">= ${target_seal_ratio}x" \
  "$(verdict "$seal_ratio" ">=" "$target_seal_ratio")"
row "sc-open / age -d, to /dev/null" "${open_ratio}x" ">= ${target_open_ratio}x" \
  "$(verdict "$open_ratio" ">=" "$target_open_ratio")"
row "sc-seal peak RSS" "$seal_rss MiB" "<= $target_rss_mib MiB" "$(verdict "$seal_rss" "<=" "$target_rss_mib")"
row "sc-open peak RSS" "$open_rss MiB" "<= $target_rss_mib MiB" "$(verdict "$open_rss" "<=" "$target_rss_mib")"
for tool in sc-keygen sc-handshake; do
  if [ "$tool" = sc-keygen ]; then value=$keygen_rss; else value=$handshake_rss; fi
  if [ -n "$value" ]; then
    row "$tool peak RSS" "$value MiB" "<= $target_rss_mib MiB" "$(verdict "$value" "<=" "$target_rss_mib")"
  else
    row "$tool peak RSS" "n/a" "<= $target_rss_mib MiB" "SKIP (needs GNU time)"
  fi
done
row "start-up sc-seal / age -e" "${startup_ratio}x" "<= ${target_startup_ratio}x" \
  "$(verdict "$startup_ratio" "<=" "$target_startup_ratio")"
for tool in "${tools[@]}"; do
  row "start-up $tool --version / age" "${version_ratio[$tool]}x" "<= ${target_version_ratio}x" \
    "$(verdict "${version_ratio[$tool]}" "<=" "$target_version_ratio")"
done
if [ -n "$crc_percent" ]; then
  row "CRC-32 share of sc-open time" "$crc_percent %" "<= $target_crc_percent %" \
    "$(verdict "$crc_percent" "<=" "$target_crc_percent")"
else
  row "CRC-32 share of sc-open time" "n/a" "<= $target_crc_percent %" "SKIP ($crc_note)"
fi
row "round trip sc-seal -> sc-open" "identical" "identical" PASS

# --- Figures for the CSV (BENCH_CSV; scripts/bench-record.sh) ----------------------------------

ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1e3 }'; }
times_target() { awk -v v="$1" -v t="$2" -v f="$3" 'BEGIN { printf f, v * t }'; }
figure="sc-seal -k $size_label"
for name in sc-seal "openssl enc" "age -e"; do
  subject=$name
  [ "$name" != sc-seal ] || subject="sc-seal -k"
  bench_measure "$figure" "$subject" "$(mbps "$(best "$name")")" MB/s
done
bench_target "$figure" "$(times_target "$(mbps "$(best "openssl enc")")" "$target_seal_ratio" %.0f)" MB/s \
  ">= $target_seal_ratio x openssl enc"
bench_ratio "$figure" "sc-seal -k / openssl enc" "$seal_ratio" x ">= $target_seal_ratio" \
  "$(verdict "$seal_ratio" ">=" "$target_seal_ratio")"
figure="sc-open -k $size_label to /dev/null"
bench_measure "$figure" "sc-open -k" "$(mbps "$(best "sc-open >null")")" MB/s
bench_measure "$figure" "age -d" "$(mbps "$(best "age -d >null")")" MB/s
bench_target "$figure" "$(times_target "$(mbps "$(best "age -d >null")")" "$target_open_ratio" %.0f)" MB/s \
  ">= $target_open_ratio x age -d"
bench_ratio "$figure" "sc-open -k / age -d" "$open_ratio" x ">= $target_open_ratio" \
  "$(verdict "$open_ratio" ">=" "$target_open_ratio")"
figure="sc-open -k $size_label file to file"
for name in sc-open "age -d" "openssl enc -d"; do
  subject=$name
  [ "$name" != sc-open ] || subject="sc-open -k"
  bench_measure "$figure" "$subject" "$(mbps "$(best "$name")")" MB/s
done
bench_ratio "$figure" "sc-open -k / age -d" "$open_file_ratio" x "" ""
# One peak RSS figure for every tool (bench-public-log.sh adds sc-logcheck -p's).
figure="peak RSS"
for name in sc-seal sc-open "age -e" "age -d"; do
  value=$(awk -v k="${rss[$name]}" 'BEGIN { printf "%.1f", k / 1024 }')
  subject="$name $size_label"
  case $name in sc-*) subject="$name -k $size_label" ;; esac
  bench_measure "$figure" "$subject" "$value" MiB
  case $name in
    sc-*) bench_ratio "$figure" "$subject" "$value" MiB "<= $target_rss_mib" \
      "$(verdict "$value" "<=" "$target_rss_mib")" ;;
  esac
done
for tool in sc-keygen sc-handshake; do
  if [ "$tool" = sc-keygen ]; then value=$keygen_rss; else value=$handshake_rss; fi
  [ -n "$value" ] || continue
  bench_measure "$figure" "$tool" "$value" MiB
  bench_ratio "$figure" "$tool" "$value" MiB "<= $target_rss_mib" "$(verdict "$value" "<=" "$target_rss_mib")"
done
bench_target "$figure" "$target_rss_mib" MiB "<= $target_rss_mib MiB"
figure="start-up, TOOL --version"
for name in "${tools[@]}" age; do
  bench_measure "$figure" "$name" "$(ms "$(version_field "$name" 2)")" ms
done
bench_target "$figure" "$(times_target "$(ms "$age_version_mean")" "$target_version_ratio" %.3f)" ms \
  "<= $target_version_ratio x age --version"
for tool in "${tools[@]}"; do
  bench_ratio "$figure" "$tool / age" "${version_ratio[$tool]}" x "<= $target_version_ratio" \
    "$(verdict "${version_ratio[$tool]}" "<=" "$target_version_ratio")"
done
figure="start-up, empty input"
bench_measure "$figure" "sc-seal -k" "$(ms "$seal_mean")" ms
bench_measure "$figure" "age -e" "$(ms "$age_mean")" ms
bench_target "$figure" "$(times_target "$(ms "$age_mean")" "$target_startup_ratio" %.3f)" ms \
  "<= $target_startup_ratio x age -e"
bench_ratio "$figure" "sc-seal -k / age -e" "$startup_ratio" x "<= $target_startup_ratio" \
  "$(verdict "$startup_ratio" "<=" "$target_startup_ratio")"
if [ -n "$crc_percent" ]; then
  figure="CRC-32 share of sc-open -k"
  bench_measure "$figure" "sc-open -k CRC-32" "$crc_percent" %
  bench_target "$figure" "$target_crc_percent" % "<= $target_crc_percent %"
  bench_ratio "$figure" "sc-open -k CRC-32" "$crc_percent" % "<= $target_crc_percent" \
    "$(verdict "$crc_percent" "<=" "$target_crc_percent")"
fi
if [ "$other_percent" -gt 10 ]; then
  printf 'note: the machine was not idle (other processes took %s %% of a core during the throughput runs):\n' \
    "$other_percent"
  printf '      the figures may be off; run again on a quiet machine\n'
fi
exit 0
