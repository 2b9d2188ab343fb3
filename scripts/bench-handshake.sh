#!/usr/bin/env bash
# Benchmarks the responder's time to answer I2 (`make bench`; figures, not a test): the time
# between the last byte of I2 reaching `sc-handshake --responder` and the last byte of its R2
# coming back, which is what anyone who connects can measure. With --peers the responder
# computes a candidate response for PEERS_MAX (64) keys whatever the number of entries
# (docs/PROTOCOL.md §3.9), so the figures for 1, 16 and 64 entries must be the same within
# noise; -k (one key) is shown beside them.
#
# Each handshake is a real pair of processes, sc-handshake --initiator and --responder, whose
# standard input and output are pipes to a relay in one python3 process; the relay forwards the
# four messages and takes the times there, so the interpreter's start-up is not counted. The
# configurations take turns, handshake by handshake, so that a change in the machine's load
# falls on all of them. Also shown: the time from starting the responder to its R1 (process
# start-up and loading the key files, which does grow with the entries).
#
# Usage: scripts/bench-handshake.sh BIN_DIR   (BIN_DIR holds sc-keygen and sc-handshake)
#
# Knobs (environment): BENCH_HANDSHAKE_RUNS (200 handshakes per configuration),
# BENCH_HANDSHAKE_ENTRIES ("1 16 64"), BENCH_CSV (a file to append the figures to,
# scripts/bench-record.sh). Every file is removed on exit.
set -euo pipefail
export LC_ALL=C

me=bench-handshake.sh
[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$(cd "$1" && pwd)
runs=${BENCH_HANDSHAKE_RUNS:-200}
read -r -a counts <<<"${BENCH_HANDSHAKE_ENTRIES:-1 16 64}"
for tool in sc-keygen sc-handshake; do
  [ -x "$bin/$tool" ] || {
    printf '%s: error: %s not found in %s\n' "$me" "$tool" "$bin" >&2
    exit 2
  }
done
command -v python3 >/dev/null || {
  printf '%s: error: python3 not found\n' "$me" >&2
  exit 2
}
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-handshake.sh "$bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-handshake.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
cd "$work"

# One key per entry of the largest file; a file of N entries holds keys 1 to N, and the
# initiator holds the last of them (the position of the matching key must not matter either).
largest=1
for count in "${counts[@]}"; do [ "$count" -gt "$largest" ] && largest=$count; done
for ((i = 1; i <= largest; i++)); do "$bin/sc-keygen" -o "k$i.key" 2>/dev/null; done
configurations=("k1 -k $work/k1.key peer1")
for count in "${counts[@]}"; do
  {
    echo securechat-peers-v1
    for ((i = 1; i <= count; i++)); do echo "peer$i - - k$i.key peer$i"; done
  } >"peers$count"
  chmod 600 "peers$count"
  configurations+=("p$count --peers $work/peers$count peer$count")
done

python3 - "$bin/sc-handshake" "$runs" "$work" "${configurations[@]}" <<'PY'
import os, statistics, subprocess, sys, time

handshake, runs, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
configurations = [c.split(" ") for c in sys.argv[4:]]  # tag, option, value, initiator's name


def read_exactly(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError(f"{len(data)} of {n} bytes")
        data += chunk
    return data


def read_message(fd):
    header = read_exactly(fd, 3)
    return header + read_exactly(fd, int.from_bytes(header[1:3], "big"))


def one(tag, option, value, name):
    """One handshake; returns (start-up to R1, I2 to R2) in seconds."""
    key = value if option == "-k" else f"{work}/k{tag[1:]}.key"
    responder_args = [handshake, "--responder", option, value, "-n", "bench", "-o", "/dev/null"]
    initiator_args = [handshake, "--initiator", "-k", key, "-n", name, "-o", "/dev/null"]
    if option == "-k":
        responder_args += ["--peer-name", name]
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    initiator = subprocess.Popen(initiator_args, **pipes)
    i1 = read_message(initiator.stdout.fileno())
    started = time.perf_counter()
    responder = subprocess.Popen(responder_args, **pipes)
    r_in, r_out = responder.stdin.fileno(), responder.stdout.fileno()
    os.write(r_in, i1)
    r1 = read_message(r_out)
    to_r1 = time.perf_counter() - started
    os.write(initiator.stdin.fileno(), r1)
    i2 = read_message(initiator.stdout.fileno())
    os.write(r_in, i2)
    sent = time.perf_counter()
    r2 = read_message(r_out)
    to_r2 = time.perf_counter() - sent
    if r2[0] != 0x04:
        sys.exit(f"bench-handshake.sh: error: {tag}: the responder sent {r2[:3].hex()}, not R2")
    os.write(initiator.stdin.fileno(), r2)
    for process in (initiator, responder):
        process.stdin.close()
        process.stdout.close()
        if process.wait() != 0:
            sys.exit(f"bench-handshake.sh: error: {tag}: a side exited with status {process.returncode}")
    return to_r1, to_r2


for configuration in configurations:  # warm the page cache and the binary
    one(*configuration)
times = {c[0]: ([], []) for c in configurations}
for _ in range(runs):
    for configuration in configurations:
        to_r1, to_r2 = one(*configuration)
        times[configuration[0]][0].append(to_r1)
        times[configuration[0]][1].append(to_r2)


def label(tag):
    if tag == "k1":
        return "-k KEYFILE (one key)"
    n = int(tag[1:])
    return f"--peers, {n} entr{'y' if n == 1 else 'ies'}"


def figures(values):
    q = statistics.quantiles(values, n=10)
    return f"{statistics.median(values) * 1000:6.3f} ms  (p10 {q[0] * 1000:.3f}, p90 {q[-1] * 1000:.3f})"


print(f"responder's time to answer I2, median of {runs} handshakes:")
for tag, _, _, _ in configurations:
    print(f"  {label(tag):24} {figures(times[tag][1])}")
print(f"responder's start-up to R1 (process start, key files loaded), median of {runs}:")
for tag, _, _, _ in configurations:
    print(f"  {label(tag):24} {figures(times[tag][0])}")
peers = [t for t, _, _, _ in configurations if t != "k1"]
medians = [statistics.median(times[t][1]) for t in peers]
if len(medians) > 1:
    spread = (max(medians) - min(medians)) / min(medians) * 100
    print(f"summary: --peers answers I2 in {min(medians) * 1000:.3f} to {max(medians) * 1000:.3f} ms"
          f" for {', '.join(t[1:] for t in peers)} entries (spread {spread:.0f}% of the smallest)")

# Figures for the CSV, fields separated by \037, recorded by bench_rows (bench-record.sh).
with open(f"{work}/figures", "w") as out:
    def row(*fields):
        out.write("\x1f".join(str(f) for f in fields) + "\n")
    for tag, _, _, _ in configurations:
        subject = "-k (one key)" if tag == "k1" else f"--peers {tag[1:]}"
        row("measure", "responder answers I2", subject, f"{statistics.median(times[tag][1]) * 1000:.3f}", "ms")
    if len(medians) > 1:
        row("ratio", "responder answers I2", "--peers spread", f"{spread:.0f}", "%", "", "")
    for tag, _, _, _ in configurations:
        subject = "-k (one key)" if tag == "k1" else f"--peers {tag[1:]}"
        row("measure", "responder start-up to R1", subject, f"{statistics.median(times[tag][0]) * 1000:.3f}", "ms")
PY
bench_rows figures

# More entries than the responder pads to are refused before the handshake (FORMATS.md §10.2).
for ((i = largest + 1; i <= 65; i++)); do "$bin/sc-keygen" -o "k$i.key" 2>/dev/null; done
{
  echo securechat-peers-v1
  for ((i = 1; i <= 65; i++)); do echo "peer$i - - k$i.key peer$i"; done
} >peers65
chmod 600 peers65
status=0
"$bin/sc-handshake" --responder --peers peers65 -n bench -o s65 </dev/null >/dev/null 2>err || status=$?
echo "a peers file of 65 entries: exit status $status: $(head -n 1 err)"
