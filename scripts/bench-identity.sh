#!/usr/bin/env bash
# Benchmarks a whole handshake with identities (sc-handshake -i, PROTOCOL.md §11) against one
# with a pre-shared key (-k, §3) (`make bench`; figures, not a test): both sides started over a
# loopback TCP connection, timed from the start of the two processes to the exit of both, the
# session written to /dev/null. The two kinds take turns, handshake by handshake, so that a
# change in the machine's load falls on both. Target (issue 15): identity <= 1.1x pre-shared key.
#
# Usage: scripts/bench-identity.sh BIN_DIR   (BIN_DIR holds sc-keygen and sc-handshake)
# Knobs: BENCH_IDENTITY_RUNS (200 handshakes of each kind), BENCH_CSV (a file to append the
# figures to, scripts/bench-record.sh). Every file is removed on exit.
set -euo pipefail
export LC_ALL=C

me=bench-identity.sh
[ $# -eq 1 ] || {
  printf 'usage: %s BIN_DIR\n' "$0" >&2
  exit 2
}
bin=$(cd "$1" && pwd)
runs=${BENCH_IDENTITY_RUNS:-200}
command -v python3 >/dev/null || {
  printf '%s: error: python3 not found\n' "$me" >&2
  exit 2
}
# shellcheck source=scripts/bench-record.sh
. "$(dirname "$0")/bench-record.sh"
bench_begin bench-identity.sh "$bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-identity.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
cd "$work"
"$bin/sc-keygen" -o psk.key 2>/dev/null
"$bin/sc-keygen" --identity -o alice >alice.pub 2>/dev/null
"$bin/sc-keygen" --identity -o bob >bob.pub 2>/dev/null

python3 - "$bin/sc-handshake" "$runs" "$work" <<'PY'
import os, socket, statistics, subprocess, sys, time

handshake, runs, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
alice = open(f"{work}/alice.pub").read().strip()
bob = open(f"{work}/bob.pub").read().strip()
kinds = {
    "pre-shared key (-k)": (
        ["-k", f"{work}/psk.key", "-n", "alice"],
        ["-k", f"{work}/psk.key", "-n", "bob"]),
    "identities (-i --peer-key)": (
        ["-i", f"{work}/alice", "--peer-key", bob, "-n", "alice"],
        ["-i", f"{work}/bob", "--peer-key", alice, "-n", "bob"]),
}
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)


def one(initiator_args, responder_args):
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.perf_counter()
    sides = [
        subprocess.Popen([handshake, "--responder", *responder_args, "-o", "/dev/null"],
                         stdin=server, stdout=server, stderr=subprocess.DEVNULL),
        subprocess.Popen([handshake, "--initiator", *initiator_args, "-o", "/dev/null"],
                         stdin=client, stdout=client, stderr=subprocess.DEVNULL),
    ]
    statuses = [side.wait() for side in sides]
    elapsed = time.perf_counter() - started
    client.close()
    server.close()
    if statuses != [0, 0]:
        sys.exit(f"bench-identity.sh: error: a handshake failed: exit statuses {statuses}")
    return elapsed


for arguments in kinds.values():  # warm the page cache and the binary
    one(*arguments)
times = {kind: [] for kind in kinds}
for _ in range(runs):
    for kind, arguments in kinds.items():
        times[kind].append(one(*arguments))
print(f"whole handshake over loopback TCP, both processes started to both exited, median of {runs}:")
for kind, values in times.items():
    q = statistics.quantiles(values, n=10)
    print(f"  {kind:28} {statistics.median(values) * 1000:7.3f} ms  (p10 {q[0] * 1000:.3f}, p90 {q[-1] * 1000:.3f})")
names = list(kinds)
ratio = statistics.median(times[names[1]]) / statistics.median(times[names[0]])
print(f"summary: identity handshake / pre-shared key handshake = {ratio:.3f} (target <= 1.1)")

# Figures for the CSV, fields separated by \037, recorded by bench_rows (bench-record.sh).
figure = "identity handshake over loopback TCP"
psk, identity = (statistics.median(times[name]) * 1000 for name in names)
with open(f"{work}/figures", "w") as out:
    for fields in (("measure", figure, "sc-handshake -i", f"{identity:.3f}", "ms"),
                   ("measure", figure, "sc-handshake -k", f"{psk:.3f}", "ms"),
                   ("target", figure, "target", f"{psk * 1.1:.3f}", "ms", "<= 1.1 x sc-handshake -k", ""),
                   ("ratio", figure, "-i / -k", f"{ratio:.3f}", "x", "<= 1.1", "PASS" if ratio <= 1.1 else "MISS")):
        out.write("\x1f".join(fields) + "\n")
PY
bench_rows "$work/figures"
