#!/usr/bin/env bash
# Benchmarks live sessions: sc-seal -s / sc-open -s on 100-byte lines, a bulk transfer over
# loopback TCP (socat) beside spiped, and the wall time of a handshake over loopback TCP beside
# the time spiped takes to connect and deliver a first byte. Prints a summary with the targets
# and PASS/MISS for each figure; with BENCH_CSV set, also appends the figures to that file
# (scripts/bench-record.sh).
#
# Usage: scripts/bench-session.sh BIN_DIR   (BIN_DIR holds sc-keygen, sc-handshake, sc-seal, sc-open)
#
# Exit status: 0 when the benchmark ran, whether or not every target was met; non-zero only if
# something broke (a tool failed, a round trip differed, a prerequisite is missing).
#
# Knobs (environment): BENCH_LINES (2000000, a multiple of 4), BENCH_RUNS (3 timed runs of the
# line and bulk benchmarks; best and median reported), BENCH_BULK_MIB (512),
# BENCH_HANDSHAKE_RUNS (50), BENCH_TMPFS (a tmpfs directory to work in; default /dev/shm, or a
# private tmpfs mounted for the run when /dev/shm is unusable and we are root), BENCH_CSV (a
# file to append the figures to). Only 127.0.0.1 is used. Every file and process created is
# removed on exit, including on Ctrl-C.
set -euo pipefail
export LC_ALL=C

me=bench-session.sh
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 2
}

[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$1
lines=${BENCH_LINES:-2000000}
runs=${BENCH_RUNS:-3}
bulk_mib=${BENCH_BULK_MIB:-512}
handshake_runs=${BENCH_HANDSHAKE_RUNS:-50}
handshake_warmup=3
for knob in "$lines" "$runs" "$bulk_mib" "$handshake_runs"; do
  case $knob in '' | *[!0-9]* | 0*) die "the BENCH_* knobs take positive integers" ;; esac
done
[ $((lines % 4)) -eq 0 ] || die "BENCH_LINES must be a multiple of 4 (the lines come from base64)"
bulk_bytes=$((bulk_mib * 1024 * 1024))

# Targets (issue 17).
target_lines_per_s=1500000 # sc-seal -s and sc-open -s, 100-byte lines, each
target_bulk_ratio=2.5      # SecureChat bulk throughput >= 2.5 x spiped
target_handshake_ratio=1.0 # SecureChat handshake <= 1.0 x spiped connect + first byte

for tool in sc-keygen sc-handshake sc-seal sc-open; do
  [ -x "$bin/$tool" ] || die "$bin/$tool not found or not executable (run \`make build\` first)"
done
missing=""
for command in socat spiped python3 cmp awk base64 head; do
  command -v "$command" >/dev/null 2>&1 || missing="$missing $command"
done
[ -z "$missing" ] || die "missing:$missing (scripts/install-deps.sh installs them)"
[ -r /proc/net/tcp ] || die "/proc/net/tcp is not readable (needed to see when a port listens)"
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-session.sh "$bin"

# --- Processes: every background process is recorded, and stopped (by PID) on exit -------------

declare -A live=() # PID -> what it is, for each background process started and not yet reaped

# descendants PID: the PIDs of PID's descendants (children first), from /proc.
# shellcheck disable=SC2317  # invoked by the EXIT trap (through stop)
descendants() {
  local task child
  local -a children
  for task in /proc/"$1"/task/*; do
    [ -r "$task/children" ] || continue
    read -r -a children <"$task/children" 2>/dev/null || true
    for child in "${children[@]}"; do
      printf '%s\n' "$child"
      descendants "$child"
    done
  done
}

# stop PID...: terminates each PID and its descendants (socat's sh, sc-handshake, sc-open ...),
# waits at most 3 s for all of them (spiped takes about a second to exit on SIGTERM), kills
# what is left, and reaps each PID.
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop() {
  local pid other deadline
  local -a group=() found
  for pid in "$@"; do
    mapfile -t found < <(descendants "$pid")
    group+=("$pid" "${found[@]}")
  done
  [ "${#group[@]}" -gt 0 ] || return 0
  kill -TERM "${group[@]}" 2>/dev/null || true
  deadline=$((${EPOCHREALTIME/./} + 3000000))
  # A process that has exited but is not reaped yet (a zombie) still answers kill -0.
  for other in "${group[@]}"; do
    while kill -0 "$other" 2>/dev/null && [ "${EPOCHREALTIME/./}" -lt "$deadline" ] &&
      ! grep -q '^State:[[:space:]]*Z' "/proc/$other/status" 2>/dev/null; do
      sleep 0.02
    done
  done
  for other in "${group[@]}"; do
    if kill -0 "$other" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$other/status" 2>/dev/null; then
      kill -KILL "$other" 2>/dev/null || true
    fi
  done
  for pid in "$@"; do
    wait "$pid" 2>/dev/null || true
    unset "live[$pid]"
  done
}

# shellcheck source=scripts/bench-tmpfs.sh
. "$(dirname "$0")/bench-tmpfs.sh"

work=""
mounted=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  stop "${!live[@]}"
  remove_work_dir
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- Work directory in a tmpfs, removed on any exit -------------------------------------------

# The lines, their sealed form and the output (100 + 180 + 100 bytes a line) are removed before
# the bulk input and one output are made; plus slack.
line_kib=$((lines * 380 / 1024))
bulk_kib=$((2 * bulk_mib * 1024))
needed_kib=$((line_kib > bulk_kib ? line_kib : bulk_kib))
needed_kib=$((needed_kib + 256 * 1024))
make_work_dir sc-bench-session "$needed_kib"
# Paths go into socat addresses and sh command lines: keep them to characters neither treats
# specially. The tools are reached through links in the work directory, so BIN_DIR may be anything.
case $work in *[!A-Za-z0-9/._-]*) die "the work directory $work has characters socat would misparse" ;; esac
mkdir "$work/bin" "$work/sessions"
for tool in sc-keygen sc-handshake sc-seal sc-open; do
  ln -s "$(cd "$bin" && pwd -P)/$tool" "$work/bin/$tool"
done
b=$work/bin
log=$work/tools.log # stderr of the tools and of socat; shown when something fails
: >"$log"

# fail MESSAGE: dies, showing the end of the tools' log.
fail() {
  if [ -s "$log" ]; then
    printf '%s: last lines of the tools'"'"' stderr:\n' "$me" >&2
    tail -n 15 -- "$log" | sed 's/^/  /' >&2
  fi
  die "$@"
}

# --- Helpers ----------------------------------------------------------------------------------

# Microseconds since the epoch, without forking.
now_us() { REPLY=${EPOCHREALTIME/./}; }

# listening PORT: true if something listens on 127.0.0.1:PORT (or on every address).
listening() {
  local hex table=""
  printf -v hex '%04X' "$1"
  read -r -d '' table </proc/net/tcp || true
  case $table in
    *" 0100007F:$hex 00000000:0000 0A "* | *" 00000000:$hex 00000000:0000 0A "*) return 0 ;;
    *) return 1 ;;
  esac
}
# wait_listen PORT...: waits (at most 10 s) until every PORT listens. Not used inside timings.
wait_listen() {
  local port deadline
  now_us
  deadline=$((REPLY + 10000000))
  for port in "$@"; do
    until listening "$port"; do
      now_us
      [ "$REPLY" -lt "$deadline" ] || fail "nothing listens on 127.0.0.1:$port after 10 s"
      sleep 0.01
    done
  done
}
# port_used PORT: true if any IPv4 or IPv6 socket has PORT as its local port.
port_used() {
  local hex table="" table6=""
  printf -v hex '%04X' "$1"
  read -r -d '' table </proc/net/tcp || true
  if [ -r /proc/net/tcp6 ]; then read -r -d '' table6 </proc/net/tcp6 || true; fi
  case "$table$table6" in *":$hex "*) return 0 ;; *) return 1 ;; esac
}
# Seven consecutive free ports below the ephemeral range (which outgoing connections use).
port_base=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 12000))
  free=1
  for offset in 0 1 2 3 4 5 6; do
    if port_used $((candidate + offset)); then
      free=0
      break
    fi
  done
  if [ "$free" -eq 1 ]; then
    port_base=$candidate
    break
  fi
done
[ -n "$port_base" ] || die "found no 7 consecutive free TCP ports in 20000-32000"
port_sc=$port_base                                                     # sc-handshake responder
port_e=$((port_base + 1)) port_d=$((port_base + 2)) port_sink=$((port_base + 3)) # spiped -e, -d, sink
cold_e=$((port_base + 4)) cold_d=$((port_base + 5)) cold_sink=$((port_base + 6)) # the same, started per run

declare -A times
record() { times[$1]="${times[$1]:-} $2"; }
# sorted NAME: the recorded times of NAME, fastest first, one a line.
sorted() {
  local -a list
  read -ra list <<<"${times[$1]}"
  printf '%s\n' "${list[@]}" | sort -g
}
best() { sorted "$1" | head -n 1; }
median() {
  local count
  count=$(sorted "$1" | wc -l)
  sorted "$1" | sed -n "$(((count + 1) / 2))p"
}
seconds() { awk -v us="$1" 'BEGIN { printf "%.6f", us / 1e6 }'; }
# verdict VALUE OP TARGET: PASS or MISS (OP is >= or <=).
verdict() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "PASS" : "MISS" }'
}
# Busy CPU seconds of the whole machine so far (user, nice, system, irq, softirq; every process
# and the kernel). Sets REPLY. The CPU of a run is measured machine-wide because socat often
# exits before reaping its sh/tools, so their CPU time reaches no parent we could ask.
machine_cpu() {
  REPLY=$(awk -v hz="$clock_ticks" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat)
}
clock_ticks=$(getconf CLK_TCK)
# busy_cores SECONDS: how many cores the machine kept busy over SECONDS of sleep (this script
# does nothing meanwhile): the load from other processes. Sets REPLY.
busy_cores() {
  local before
  machine_cpu
  before=$REPLY
  sleep "$1"
  machine_cpu
  REPLY=$(awk -v a="$REPLY" -v b="$before" -v s="$1" 'BEGIN { printf "%.2f", (a - b) / s }')
}

# --- Set-up ------------------------------------------------------------------------------------

key=$work/chat.key
spiped_key=$work/spiped.key
"$b/sc-keygen" -o "$key" 2>>"$log" || fail "sc-keygen failed"
head -c 32 /dev/urandom >"$spiped_key" || die "cannot write the spiped key"

load_start=$(cut -d ' ' -f 1 /proc/loadavg)
printf 'SecureChat session benchmark, work directory %s (tmpfs), ports 127.0.0.1:%s-%s\n' "$work" \
  "$port_base" "$((port_base + 6))"
printf 'machine: %s CPUs, %s; %s; spiped %s; %s; load average %s\n' "$(nproc)" "$(uname -r)" \
  "$(socat -V | awk '/socat version/ { print "socat " $3; exit }')" "$(spiped -v 2>&1 | awk '{ print $NF }')" \
  "$(python3 -V 2>&1)" "$load_start"
wall_before=${EPOCHREALTIME/./}
busy_cores 1
idle_before=$REPLY
printf 'other load before the run: %s cores busy (1 s sample)\n' "$idle_before"

# A pair of session files without a network: two fifos. alice's send keys are bob's receive keys.
mkfifo "$work/a2b" "$work/b2a"
(
  exec 3>"$work/a2b" 4<"$work/b2a"
  exec "$b/sc-handshake" --initiator -k "$key" -n alice -o "$work/session.alice" --timeout 10 <&4 >&3 2>>"$log"
) &
initiator=$!
live[$initiator]=sc-handshake
(
  exec 4<"$work/a2b" 3>"$work/b2a"
  exec "$b/sc-handshake" --responder -k "$key" -n bob -o "$work/session.bob" --timeout 10 <&4 >&3 2>>"$log"
) &
responder=$!
live[$responder]=sc-handshake
status=0
wait "$initiator" || status=$?
unset "live[$initiator]"
wait "$responder" || status=$?
unset "live[$responder]"
[ "$status" -eq 0 ] || fail "the handshake over fifos failed"
rm -f -- "$work/a2b" "$work/b2a"

# --- 1. 100-byte lines through sc-seal -s and sc-open -s ---------------------------------------

input=$work/lines
sealed=$work/lines.sc
out=$work/out
# 99 base64 characters + a newline a line, random content.
head -c $((lines * 297 / 4)) /dev/urandom | base64 -w 99 >"$input" || die "cannot write the lines"
if [ "$(wc -l <"$input")" -ne "$lines" ] || [ "$(stat -c %s "$input")" -ne $((lines * 100)) ]; then
  die "the line file does not hold $lines lines of 100 bytes"
fi

# Each run of sc-seal -s or sc-open -s claims its direction of the session file it is given
# (docs/PROTOCOL.md §5), so every run gets a fresh copy, made before its timing starts; the
# timings include the claim (a reopen, a lock, a 64-byte write and its fdatasync, in tmpfs).
fresh_sessions() { cp -p -- "$work/session.alice" "$work/run.alice" && cp -p -- "$work/session.bob" "$work/run.bob"; }
seal_lines=("$b/sc-seal" -s "$work/run.alice")
open_lines=("$b/sc-open" -s "$work/run.bob")
# Warm-up: makes the sealed file the timed sc-open runs read, and checks the round trip.
fresh_sessions || die "cannot copy the session files"
"${seal_lines[@]}" -o "$sealed" "$input" 2>>"$log" || fail "sc-seal -s failed"
"${open_lines[@]}" -o "$out" "$sealed" 2>>"$log" || fail "sc-open -s failed on what sc-seal -s made"
cmp -s -- "$input" "$out" || fail "round trip sc-seal -s | sc-open -s: output differs from the input"
rm -f -- "$out"

# timed NAME COMMAND...: one timed run (file -> file), recorded in microseconds.
timed() {
  local name=$1 start
  shift
  now_us
  start=$REPLY
  "$@" 2>>"$log" || fail "$name failed: $*"
  now_us
  record "$name" $((REPLY - start))
}
for _ in $(seq "$runs"); do
  rm -f -- "$out"
  fresh_sessions || die "cannot copy the session files"
  timed seal_lines_s "${seal_lines[@]}" -o "$out" "$input"
  cmp -s -- "$sealed" "$out" && fail "two sealings gave the same bytes (IVs must be fresh)"
  rm -f -- "$out"
  timed open_lines_s "${open_lines[@]}" -o "$out" "$sealed"
  cmp -s -- "$input" "$out" || fail "round trip sc-seal -s | sc-open -s: output differs from the input"
done
sealed_size=$(stat -c %s "$sealed")
rm -f -- "$input" "$sealed" "$out"

lines_per_s() { awk -v n="$lines" -v us="$1" 'BEGIN { printf "%.0f", n / (us / 1e6) }'; }
seal_rate=$(lines_per_s "$(best seal_lines_s)")
open_rate=$(lines_per_s "$(best open_lines_s)")
printf '\n1. %s lines of 100 bytes (99 characters + newline), file -> file in tmpfs, best of %s (median)\n' \
  "$lines" "$runs"
printf '   sealed stream: %s bytes (%s bytes a line)\n' "$sealed_size" \
  "$(awk -v s="$sealed_size" -v n="$lines" 'BEGIN { printf "%.1f", s / n }')"
for name in seal_lines_s open_lines_s; do
  case $name in seal_lines_s) label="sc-seal -s" ;; *) label="sc-open -s" ;; esac
  printf '   %-11s %9s lines/s (median %9s)  %.3f s  %6.1f MB/s of lines\n' "$label" \
    "$(lines_per_s "$(best "$name")")" "$(lines_per_s "$(median "$name")")" "$(seconds "$(best "$name")")" \
    "$(awk -v b=$((lines * 100)) -v us="$(best "$name")" 'BEGIN { print b / us }')"
done
printf '   round trip (cmp): identical\n'

# --- 2. Bulk transfer over loopback TCP: SecureChat beside spiped -------------------------------

bulk_in=$work/bulk
head -c "$bulk_bytes" /dev/urandom >"$bulk_in" || die "cannot write the bulk input"

# spiped pair, in the foreground (-F) but in the background of this script, stopped by PID.
# They stay up for section 3 as well.
spiped -d -F -s "[127.0.0.1]:$port_d" -t "[127.0.0.1]:$port_sink" -k "$spiped_key" 2>>"$log" &
spiped_d=$!
live[$spiped_d]="spiped -d"
spiped -e -F -s "[127.0.0.1]:$port_e" -t "[127.0.0.1]:$port_d" -k "$spiped_key" 2>>"$log" &
spiped_e=$!
live[$spiped_e]="spiped -e"
wait_listen "$port_d" "$port_e"

# Each run is timed from the launch of the sending side, the receiving side already listening
# (socat for SecureChat, whose sc-handshake and sc-open start on accept, inside the timing;
# spiped -e/-d and the sink socat for spiped), until the receiving side has exited with the whole
# output written. Handshake included in both. socat -T/-t and accept-timeout bound every wait.
# Also recorded: the machine's busy CPU over each timed run, in cores (2.00 = two cores flat out).
declare -A cores=()
# cores_used NAME CPU_BEFORE START_US END_US: records the cores kept busy during a run.
cores_used() {
  machine_cpu
  cores[$1]="${cores[$1]:-} $(awk -v a="$REPLY" -v b="$2" -v us=$(($4 - $3)) 'BEGIN { printf "%.2f", (a - b) / (us / 1e6) }')"
}
sc_bulk_run() {
  local start end resp init status=0 cpu_before
  rm -f -- "$out" "$work/sessions/bulk.r" "$work/sessions/bulk.i"
  socat -T 30 -t 10 "TCP-LISTEN:$port_sc,bind=127.0.0.1,reuseaddr,accept-timeout=30" \
    "SYSTEM:$b/sc-handshake --responder -k $key -n bob -o $work/sessions/bulk.r --timeout 10 && $b/sc-open -s $work/sessions/bulk.r >$out" \
    2>>"$log" &
  resp=$!
  live[$resp]="socat (responder)"
  wait_listen "$port_sc"
  machine_cpu
  cpu_before=$REPLY
  now_us
  start=$REPLY
  socat -T 30 -t 10 "TCP:127.0.0.1:$port_sc" \
    "SYSTEM:$b/sc-handshake --initiator -k $key -n alice -o $work/sessions/bulk.i --timeout 10 && $b/sc-seal -s $work/sessions/bulk.i --binary <$bulk_in" \
    2>>"$log" </dev/null &
  init=$!
  live[$init]="socat (initiator)"
  wait "$resp" || status=$?
  now_us
  end=$REPLY
  unset "live[$resp]"
  wait "$init" || status=$?
  unset "live[$init]"
  [ "$status" -eq 0 ] || fail "SecureChat bulk transfer over socat failed"
  cores_used sc_bulk "$cpu_before" "$start" "$end"
  cmp -s -- "$bulk_in" "$out" || fail "SecureChat bulk transfer: output differs from the input"
  record sc_bulk $((end - start))
  rm -f -- "$out"
}
spiped_bulk_run() {
  local start end sink source status=0 cpu_before
  rm -f -- "$out"
  socat -u -T 30 "TCP-LISTEN:$port_sink,bind=127.0.0.1,reuseaddr,accept-timeout=30" STDOUT >"$out" 2>>"$log" &
  sink=$!
  live[$sink]="socat (sink)"
  wait_listen "$port_sink"
  machine_cpu
  cpu_before=$REPLY
  now_us
  start=$REPLY
  socat -u -T 30 STDIN "TCP:127.0.0.1:$port_e" <"$bulk_in" 2>>"$log" &
  source=$!
  live[$source]="socat (source)"
  wait "$sink" || status=$?
  now_us
  end=$REPLY
  unset "live[$sink]"
  wait "$source" || status=$?
  unset "live[$source]"
  cores_used spiped_bulk "$cpu_before" "$start" "$end"
  [ "$status" -eq 0 ] || fail "spiped bulk transfer failed"
  cmp -s -- "$bulk_in" "$out" || fail "spiped bulk transfer: output differs from the input"
  record spiped_bulk $((end - start))
  rm -f -- "$out"
}
# Interleaved, so that background load hits both alike. The first round warms up (page cache
# of the tools, tmpfs pages of the output) and is not counted.
sc_bulk_run
spiped_bulk_run
times[sc_bulk]=""
times[spiped_bulk]=""
cores=()
for _ in $(seq "$runs"); do
  sc_bulk_run
  spiped_bulk_run
done

mbps() { awk -v b="$bulk_bytes" -v us="$1" 'BEGIN { printf "%.0f", b / us }'; }
mean_of() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.2f", s / NF }' <<<"$1"; }
sc_mbps=$(mbps "$(best sc_bulk)")
spiped_mbps=$(mbps "$(best spiped_bulk)")
bulk_ratio=$(awk -v a="$(best spiped_bulk)" -v b="$(best sc_bulk)" 'BEGIN { printf "%.2f", a / b }')
printf '\n2. bulk transfer of %s MiB of random data over 127.0.0.1 TCP, handshake included\n' "$bulk_mib"
printf '   (timed from launching the sender, receiver already listening, until the receiver has\n'
printf '   exited with the whole output written; best of %s after a warm-up round; MB = 10^6 bytes)\n' "$runs"
printf '   %-50s %5s MB/s (median %4s)  %.3f s  %s cores busy\n' \
  "SecureChat: socat + sc-handshake + sc-seal/sc-open -s" "$sc_mbps" "$(mbps "$(median sc_bulk)")" \
  "$(seconds "$(best sc_bulk)")" "$(mean_of "${cores[sc_bulk]}")"
printf '   %-50s %5s MB/s (median %4s)  %.3f s  %s cores busy\n' \
  "spiped: socat -> spiped -e -> spiped -d -> socat" "$spiped_mbps" "$(mbps "$(median spiped_bulk)")" \
  "$(seconds "$(best spiped_bulk)")" "$(mean_of "${cores[spiped_bulk]}")"
printf '   SecureChat / spiped = %sx    round trips (cmp): both identical\n' "$bulk_ratio"
printf '   (cores busy: busy CPU time of the whole machine during a run / its wall time, mean of the\n'
printf '   timed runs; %s cores here)\n' "$(nproc)"

# --- 3. Handshake wall time over loopback TCP, beside spiped's connect + first byte -------------

# Timed in Python (time.perf_counter, processes started with subprocess) because polling
# /proc/net/tcp from bash costs milliseconds. Four variants, interleaved run by run:
#   sc connect:     the responder socat already listens; timed from launching the initiator socat
#                   until both socat processes have exited (each starts its sc-handshake on
#                   connect and exits only once that has closed the connection by exiting).
#   spiped connect: spiped -e, spiped -d and a sink socat already listen; timed from launching
#                   `socat -u STDIN TCP:...` with one byte on its stdin until the sink has exited
#                   after receiving that byte and the end of the stream.
#   sc cold:        as sc connect, but the timing also covers starting the responder socat and
#                   waiting until it listens.
#   spiped cold:    as spiped connect, but the timing also covers starting spiped -d, the sink and
#                   spiped -e and waiting until all three listen.
# The verdict uses the two "connect" figures: both then measure what a connection costs when
# the listening side is already waiting, which is how both are used (spiped as a daemon, the
# responder of a chat waiting for its peer), and both include the start-up of every process that
# a connection needs (socat on the connecting side; for SecureChat also both sc-handshake
# processes, which exist per connection — subtract nothing). The "cold" figures add the start-up
# of the listening side (one socat for SecureChat, three processes for spiped) and the latency of
# polling for it; they are shown for information.
cat >"$work/handshake.py" <<'EOF'
import os, signal, subprocess, sys, time

(work, key, spiped_key, port_sc, port_e, port_d, port_sink, cold_e, cold_d, cold_sink,
 runs, warmup, log_path) = sys.argv[1:]
port_sc, port_e, port_d, port_sink, cold_e, cold_d, cold_sink, runs, warmup = map(
    int, (port_sc, port_e, port_d, port_sink, cold_e, cold_d, cold_sink, runs, warmup))
handshake = os.path.join(work, "bin", "sc-handshake")
sessions = os.path.join(work, "sessions")
log = open(log_path, "ab")
one_byte = os.path.join(work, "one-byte")
received = os.path.join(work, "received")
with open(one_byte, "wb") as f:
    f.write(b"x")
procs = []
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))


class Failure(Exception):
    pass


def alarm(*_):
    raise Failure("timed out")


signal.signal(signal.SIGALRM, alarm)


def start(argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    p = subprocess.Popen(argv, stderr=log, **kw)
    procs.append(p)
    return p


def finish(p, what):
    # A blocking wait, bounded by an alarm: Popen.wait(timeout=...) polls with sleeps that
    # grow to 50 ms, which would add milliseconds to what is measured.
    signal.alarm(20)
    try:
        status = p.wait()
    except Failure:
        raise Failure(what + " did not finish within 20 s")
    finally:
        signal.alarm(0)
    procs.remove(p)
    if status != 0:
        raise Failure(what + " exited with status %d" % status)


def listening(ports):
    with open("/proc/net/tcp") as f:
        table = f.read()
    return all((" 0100007F:%04X 00000000:0000 0A " % port) in table for port in ports)


def wait_listen(*ports):
    deadline = time.monotonic() + 10
    while not listening(ports):
        if time.monotonic() > deadline:
            raise Failure("nothing listens on 127.0.0.1:%s after 10 s" % ports)
        time.sleep(0.0002)


def socat_handshake_responder(session):
    return start(["socat", "-T", "15", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,accept-timeout=15" % port_sc,
                  "EXEC:%s --responder -k %s -n bob -o %s --timeout 10" % (handshake, key, session)])


def socat_handshake_initiator(session):
    return start(["socat", "-T", "15", "TCP:127.0.0.1:%d" % port_sc,
                  "EXEC:%s --initiator -k %s -n alice -o %s --timeout 10" % (handshake, key, session)])


def sc(cold):
    r, i = os.path.join(sessions, "hs.r"), os.path.join(sessions, "hs.i")
    for path in (r, i):
        if os.path.exists(path):
            os.unlink(path)
    if cold:
        t0 = time.perf_counter()
        resp = socat_handshake_responder(r)
        wait_listen(port_sc)
    else:
        resp = socat_handshake_responder(r)
        wait_listen(port_sc)
        t0 = time.perf_counter()
    init = socat_handshake_initiator(i)
    finish(init, "the initiator (socat + sc-handshake)")
    finish(resp, "the responder (socat + sc-handshake)")
    elapsed = time.perf_counter() - t0
    if not (os.path.getsize(r) > 0 and os.path.getsize(i) > 0):
        raise Failure("sc-handshake wrote no session file")
    return elapsed


def sink(port, out):
    return start(["socat", "-u", "-T", "15", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,accept-timeout=15" % port,
                  "STDOUT"], stdout=out)


def spiped(mode, source, target):
    return start(["spiped", mode, "-F", "-s", "[127.0.0.1]:%d" % source, "-t", "[127.0.0.1]:%d" % target,
                  "-k", spiped_key])


def stop_spiped(p):
    # SIGKILL: it is idle, and on SIGTERM spiped takes about a second to exit.
    p.kill()
    p.wait()
    procs.remove(p)


def spiped_first_byte(cold):
    with open(received, "wb") as out, open(one_byte, "rb") as byte:
        if cold:
            t0 = time.perf_counter()
            d = spiped("-d", cold_d, cold_sink)
            s = sink(cold_sink, out)
            e = spiped("-e", cold_e, cold_d)
            wait_listen(cold_d, cold_sink, cold_e)
            entry = cold_e
        else:
            s = sink(port_sink, out)
            wait_listen(port_sink)
            t0 = time.perf_counter()
            entry = port_e
        source = start(["socat", "-u", "-T", "15", "STDIN", "TCP:127.0.0.1:%d" % entry], stdin=byte)
        finish(s, "the sink socat behind spiped -d")
        elapsed = time.perf_counter() - t0
        finish(source, "the source socat in front of spiped -e")
        if cold:
            stop_spiped(e)
            stop_spiped(d)
    with open(received, "rb") as f:
        if f.read() != b"x":
            raise Failure("the byte sent through spiped did not arrive")
    return elapsed


# The breakdown of "sc connect" (information): what its parts cost alone, in the same rounds.
def plumbing():
    # Both socat processes as in "sc connect", each running /bin/true instead of sc-handshake:
    # socat's start-up, the TCP connection, the fork and exec on each side, and the teardown.
    resp = start(["socat", "-T", "15", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,accept-timeout=15" % port_sc,
                  "EXEC:/bin/true"])
    wait_listen(port_sc)
    t0 = time.perf_counter()
    init = start(["socat", "-T", "15", "TCP:127.0.0.1:%d" % port_sc, "EXEC:/bin/true"])
    finish(init, "the initiator socat running /bin/true")
    finish(resp, "the responder socat running /bin/true")
    return time.perf_counter() - t0


def pipes():
    # The two sc-handshake processes alone, started together and joined by two pipes: their
    # start-up, the four messages and the session files, without socat or TCP.
    r, i = os.path.join(sessions, "hs.r"), os.path.join(sessions, "hs.i")
    for path in (r, i):
        if os.path.exists(path):
            os.unlink(path)
    to_resp, from_init = os.pipe()
    to_init, from_resp = os.pipe()
    t0 = time.perf_counter()
    init = start([handshake, "--initiator", "-k", key, "-n", "alice", "-o", i, "--timeout", "10"],
                 stdin=to_init, stdout=from_init)
    resp = start([handshake, "--responder", "-k", key, "-n", "bob", "-o", r, "--timeout", "10"],
                 stdin=to_resp, stdout=from_resp)
    for fd in (to_resp, from_init, to_init, from_resp):
        os.close(fd)
    finish(init, "the initiator over pipes")
    finish(resp, "the responder over pipes")
    return time.perf_counter() - t0


def startup():
    # One sc-handshake process that only prints its version: what starting one costs.
    t0 = time.perf_counter()
    finish(start([handshake, "--version"]), "sc-handshake --version")
    return time.perf_counter() - t0


variants = [("sc connect", lambda: sc(False)), ("spiped connect", lambda: spiped_first_byte(False)),
            ("sc cold", lambda: sc(True)), ("spiped cold", lambda: spiped_first_byte(True)),
            ("sc plumbing", plumbing), ("sc pipes", pipes), ("sc startup", startup)]
results = {name: [] for name, _ in variants}
status = 0
try:
    for n in range(warmup + runs):
        for name, run in variants:
            elapsed = run()
            if n >= warmup:
                results[name].append(elapsed)
    for name, _ in variants:
        print(name.replace(" ", "_"), " ".join("%.0f" % (t * 1e6) for t in results[name]))
except Failure as failure:
    print("handshake.py: error: %s" % failure, file=sys.stderr)
    status = 2
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
sys.exit(status)
EOF
python3 "$work/handshake.py" "$work" "$key" "$spiped_key" "$port_sc" "$port_e" "$port_d" "$port_sink" \
  "$cold_e" "$cold_d" "$cold_sink" "$handshake_runs" "$handshake_warmup" "$log" >"$work/handshake.out" &
harness=$!
live[$harness]="python3 handshake.py"
status=0
wait "$harness" || status=$?
unset "live[$harness]"
[ "$status" -eq 0 ] || fail "the handshake benchmark failed"
while read -r name values; do
  times[$name]=$values
done <"$work/handshake.out"
for name in sc_connect spiped_connect sc_cold spiped_cold sc_plumbing sc_pipes sc_startup; do
  [ -n "${times[$name]:-}" ] || fail "the handshake benchmark gave no figures for $name"
done

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1e3 }'; }
# percentile NAME P: the P-th percentile (nearest rank) of NAME's times, microseconds.
percentile() {
  local count
  count=$(sorted "$1" | wc -l)
  sorted "$1" | sed -n "$(awk -v n="$count" -v p="$2" 'BEGIN { r = int(n * p / 100 + 0.999999); print r < 1 ? 1 : r }')p"
}
handshake_ratio=$(awk -v a="$(median sc_connect)" -v b="$(median spiped_connect)" 'BEGIN { printf "%.2f", a / b }')
cold_ratio=$(awk -v a="$(median sc_cold)" -v b="$(median spiped_cold)" 'BEGIN { printf "%.2f", a / b }')
printf '\n3. handshake over 127.0.0.1 TCP, process start-up included (median of %s runs after %s warm-up)\n' \
  "$handshake_runs" "$handshake_warmup"
printf '   %-58s %8s %8s %8s\n' "" "median" "min" "p90"
hs_row() {
  printf '   %-58s %5s ms %5s ms %5s ms\n' "$1" "$(ms "$(median "$2")")" "$(ms "$(best "$2")")" "$(ms "$(percentile "$2" 90)")"
}
hs_row "SecureChat: socat connects, 2 x sc-handshake, both exit" sc_connect
hs_row "spiped: socat connects, -e/-d handshake, sink has the byte" spiped_connect
hs_row "SecureChat cold: + start the listening socat" sc_cold
hs_row "spiped cold: + start spiped -d, spiped -e, the sink" spiped_cold
printf '   breakdown of the SecureChat figure, each part alone in the same rounds (information):\n'
hs_row "  socat on both sides running /bin/true (start, connect, exec)" sc_plumbing
hs_row "  the two sc-handshake over pipes, started together" sc_pipes
hs_row "  one sc-handshake --version (process start-up)" sc_startup
printf '   listeners already up (verdict): SecureChat / spiped = %sx\n' "$handshake_ratio"
printf '   listeners started inside the timing (information): SecureChat / spiped = %sx\n' "$cold_ratio"
printf '   (spiped is timed to its first byte delivered because it has no separate handshake step;\n'
printf '   comparing with listeners already up is how both are used: spiped as a daemon, a chat\n'
printf '   responder waiting for its peer. sc-handshake runs under socat EXEC, without a shell.)\n'

# --- Summary -----------------------------------------------------------------------------------

wall_seconds=$(awk -v us=$((${EPOCHREALTIME/./} - wall_before)) 'BEGIN { printf "%.1f", us / 1e6 }')
busy_cores 1
idle_after=$REPLY

printf '\nsummary (%s s)\n' "$wall_seconds"
row() { printf '  %-44s %-24s %-16s %s\n' "$@"; }
row figure measured target result
row "sc-seal -s, 100-byte lines" "$seal_rate lines/s" ">= $target_lines_per_s" \
  "$(verdict "$seal_rate" ">=" "$target_lines_per_s")"
row "sc-open -s, 100-byte lines" "$open_rate lines/s" ">= $target_lines_per_s" \
  "$(verdict "$open_rate" ">=" "$target_lines_per_s")"
row "bulk over TCP, SecureChat / spiped" "${bulk_ratio}x ($sc_mbps/$spiped_mbps MB/s)" ">= ${target_bulk_ratio}x" \
  "$(verdict "$bulk_ratio" ">=" "$target_bulk_ratio")"
row "handshake / spiped connect + first byte" \
  "${handshake_ratio}x ($(ms "$(median sc_connect)")/$(ms "$(median spiped_connect)") ms)" \
  "<= ${target_handshake_ratio}x" "$(verdict "$handshake_ratio" "<=" "$target_handshake_ratio")"
row "  same, listeners started inside timing" \
  "${cold_ratio}x ($(ms "$(median sc_cold)")/$(ms "$(median spiped_cold)") ms)" \
  "(information)" "-"
row "round trips (lines, SecureChat, spiped)" "identical" "identical" PASS
printf 'other load: %s cores busy before the run, %s after (1 s samples with nothing of ours running)\n' \
  "$idle_before" "$idle_after"
if awk -v a="$idle_before" -v b="$idle_after" 'BEGIN { exit !(a > 0.1 || b > 0.1) }'; then
  printf 'note: the machine was not idle: the figures may be off; run again on a quiet machine\n'
fi

# --- Figures for the CSV (BENCH_CSV; scripts/bench-record.sh) ----------------------------------

figure="session, 100-byte lines"
bench_measure "$figure" "sc-seal -s" "$seal_rate" lines/s
bench_measure "$figure" "sc-open -s" "$open_rate" lines/s
bench_target "$figure" "$target_lines_per_s" lines/s ">= $target_lines_per_s lines/s each"
bench_ratio "$figure" "sc-seal -s" "$seal_rate" lines/s ">= $target_lines_per_s" \
  "$(verdict "$seal_rate" ">=" "$target_lines_per_s")"
bench_ratio "$figure" "sc-open -s" "$open_rate" lines/s ">= $target_lines_per_s" \
  "$(verdict "$open_rate" ">=" "$target_lines_per_s")"
figure="bulk over loopback TCP, $(bench_mib_label "$bulk_mib")"
bench_measure "$figure" SecureChat "$sc_mbps" MB/s
bench_measure "$figure" spiped "$spiped_mbps" MB/s
bench_target "$figure" "$(awk -v v="$spiped_mbps" -v t="$target_bulk_ratio" 'BEGIN { printf "%.0f", v * t }')" MB/s \
  ">= $target_bulk_ratio x spiped"
bench_ratio "$figure" "SecureChat / spiped" "$bulk_ratio" x ">= $target_bulk_ratio" \
  "$(verdict "$bulk_ratio" ">=" "$target_bulk_ratio")"
figure="handshake over loopback TCP"
bench_measure "$figure" SecureChat "$(ms "$(median sc_connect)")" ms
bench_measure "$figure" "spiped 1st byte" "$(ms "$(median spiped_connect)")" ms
bench_target "$figure" "$(awk -v v="$(median spiped_connect)" -v t="$target_handshake_ratio" \
  'BEGIN { printf "%.2f", v * t / 1e3 }')" ms "<= $target_handshake_ratio x spiped connect + first byte"
bench_ratio "$figure" "SecureChat / spiped" "$handshake_ratio" x "<= $target_handshake_ratio" \
  "$(verdict "$handshake_ratio" "<=" "$target_handshake_ratio")"
figure="handshake, listeners started in the timing"
bench_measure "$figure" "SecureChat cold" "$(ms "$(median sc_cold)")" ms
bench_measure "$figure" "spiped cold" "$(ms "$(median spiped_cold)")" ms
bench_ratio "$figure" "SecureChat / spiped" "$cold_ratio" x "" ""
figure="handshake breakdown (parts alone)"
bench_measure "$figure" "SecureChat whole" "$(ms "$(median sc_connect)")" ms
bench_measure "$figure" "socat + /bin/true" "$(ms "$(median sc_plumbing)")" ms
bench_measure "$figure" "2 x sc-handshake, pipes" "$(ms "$(median sc_pipes)")" ms
bench_measure "$figure" "sc-handshake --version" "$(ms "$(median sc_startup)")" ms
exit 0
