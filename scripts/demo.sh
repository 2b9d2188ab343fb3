#!/bin/bash
# `make demo`: the main job. Alice and Bob chat over 127.0.0.1 with sc-chat (a scripted
# conversation: each waits for the other's line before answering), each side keeps a
# tamper-evident log, the logs are verified with sc-logcheck, and the transcript is shown.
# Then a file is sealed and opened, and forgeries are refused.
set -euo pipefail

bin=${1:?usage: demo.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="$bin:$here/bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/securechat-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$work"

# Each command shown in bold on a terminal; into a file or a pipe, no escape sequences.
if [ -t 1 ] && [ "${TERM:-dumb}" != dumb ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
  step() { printf '\n$ %s\n' "$*"; }
fi

# --- 1. A chat --------------------------------------------------------------------------------

step "sc-keygen -o chat.key   # one pre-shared key, given to both (here: the same file)"
sc-keygen -o chat.key
step "sc-keygen --log -o alice.seal --verify-key alice.verify   # and one log key pair per side"
sc-keygen --log -o alice.seal --verify-key alice.verify
sc-keygen --log -o bob.seal --verify-key bob.verify 2>/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# says FILE PATTERN [LINE...]: waits (at most 15 s) until FILE shows PATTERN, then prints the
# lines (what a person would type after reading the other's message).
says() {
  local file=$1 pattern=$2
  shift 2
  for _ in $(seq 300); do
    if grep -qF -- "$pattern" "$file" 2>/dev/null; then
      if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
      return 0
    fi
    sleep 0.05
  done
  echo "demo: no \"$pattern\" in $file" >&2
  return 1
}

bob_script() {
  says bob.out "alice: Hi Bob" "Hi Alice. Yes, it is ready." "Revenue is up 4 %, costs are flat."
  says bob.out "alice: Great" "Talk tomorrow."
  # Bob hangs up once Alice has said goodbye: both sides end with their final frames.
  says bob.out "alice: Bye"
}
alice_script() {
  printf '%s\n' "Hi Bob, it's Alice. Is the report ready?"
  says alice.out "bob: Revenue" "Great, thanks." "Bye!"
  # Alice stays until Bob's side ends the chat.
  says alice.err "bob ended the chat"
}

step "sc-chat -n bob --log bob.log --log-key bob.seal -k chat.key listen $port   # bob, in the background"
bob_script | sc-chat -n bob -k chat.key --log bob.log --log-key bob.seal listen "$port" >bob.out 2>bob.err &
pids+=($!)
for _ in $(seq 100); do grep -q "waiting for a peer" bob.err 2>/dev/null && break; sleep 0.05; done

step "sc-chat -n alice --log alice.log --log-key alice.seal -k chat.key connect 127.0.0.1 $port"
alice_status=0
alice_script | sc-chat -n alice -k chat.key --log alice.log --log-key alice.seal connect 127.0.0.1 "$port" \
  >alice.out 2>alice.err || alice_status=$?
bob_status=0
wait "${pids[0]}" || bob_status=$?
pids=()

printf '\n--- what alice saw (stderr, then the messages she received) ---\n'
cat alice.err alice.out
printf -- '--- what bob saw ---\n'
cat bob.err bob.out
printf -- '---\nsc-chat exit status: alice %s, bob %s\n' "$alice_status" "$bob_status"
[ "$alice_status" -eq 0 ] && [ "$bob_status" -eq 0 ]
alice_code=$(sed -n 's/^sc-chat: verification code: //p' alice.err)
bob_code=$(sed -n 's/^sc-chat: verification code: //p' bob.err)
echo "verification codes: alice sees $alice_code, bob sees $bob_code (they compare them by voice)"
[ -n "$alice_code" ] && [ "$alice_code" = "$bob_code" ]

step "cat alice.log   # every message sent and received, one sealed entry per line"
cat alice.log
step "sc-logcheck -k alice.verify alice.log && sc-logcheck -k bob.verify bob.log"
sc-logcheck -k alice.verify alice.log
sc-logcheck -k bob.verify bob.log

step "change one word of bob's log, then sc-logcheck -k bob.verify bob.log"
sed -i 's/flat/down/' bob.log
status=0
sc-logcheck -k bob.verify bob.log || status=$?
echo "exit status: $status (1 = the log was changed)"
[ "$status" -eq 1 ]

# --- 2. A file ---------------------------------------------------------------------------------

step sc-keygen -o demo.key
sc-keygen -o demo.key
ls -l demo.key

printf 'Meet at the north gate at 19:00.\nBring the blue folder.\n' >note.txt
step sc-seal -k demo.key -o note.txt.sc note.txt
sc-seal -k demo.key -o note.txt.sc note.txt
ls -l note.txt note.txt.sc

step sc-seal -k demo.key -a '<note.txt'
sc-seal -k demo.key -a <note.txt

step sc-open -k demo.key note.txt.sc
sc-open -k demo.key note.txt.sc

step "flip one bit of the sealed file, then sc-open -k demo.key -o out.txt tampered.sc"
cp note.txt.sc tampered.sc
# Flip the lowest bit of byte 120 (inside the first frame's ciphertext), keeping the CRC so that
# the HMAC, not the CRC, is what catches it: recompute the CRC as any attacker could.
python3 - <<'PY'
import zlib
data = bytearray(open("tampered.sc", "rb").read())
data[120] ^= 1
frame = 72
length = int.from_bytes(data[frame + 12:frame + 16], "big")
end = frame + 64 + length
data[end:end + 4] = zlib.crc32(bytes(data[frame:end])).to_bytes(4, "big")
open("tampered.sc", "wb").write(data)
PY
status=0
sc-open -k demo.key -o out.txt tampered.sc || status=$?
echo "exit status: $status (1 = authentication failed); out.txt exists: $([ -e out.txt ] && echo yes || echo no)"
[ "$status" -eq 1 ] && [ ! -e out.txt ]

step "sc-open with a different key"
sc-keygen -o other.key 2>/dev/null
status=0
sc-open -k other.key note.txt.sc || status=$?
echo "exit status: $status"
[ "$status" -eq 1 ]

printf '\ndemo finished: a chat with verified logs, a sealed file, and every forgery rejected\n'
