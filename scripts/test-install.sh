#!/bin/bash
# Part of `make check`: `make install` into a temporary DESTDIR, then the installed tools must run
# with PATH limited to the install directory and /usr/bin (no Swift toolchain): versions, a sealed
# file and its armor opened again, a tampered copy refused, a chat between two installed sc-chat
# over 127.0.0.1 with a log that sc-logcheck verifies. The man pages must render, the systemd
# units of sc-inbox must name the installed sc-inbox and pass systemd-analyze verify, and
# `make uninstall` must remove every file it installed and nothing else.
# Needs the release build (make install builds it: a few minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
tmp=$(mktemp -d "${TMPDIR:-/tmp}/securechat-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
bin=$root$prefix/bin
mandir=$root$prefix/share/man
work=$tmp/work
mkdir -m 700 "$work"

failures=0
pass() { echo "test-install: ok: $*"; }
fail() {
  echo "test-install: FAIL: $*" >&2
  failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: one line of the report, pass or fail.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# The installed tools with nothing of the build environment, in $work.
run() { (cd "$work" && env -i PATH="$bin:/usr/bin" HOME="$work" LANG=C.UTF-8 "$@"); }

# Files that are not ours, in directories install writes to: uninstall must leave them.
mkdir -p "$bin" "$mandir/man1"
echo 'not ours' >"$bin/other-tool"
echo 'not ours' >"$mandir/man1/other.1"

if ! make -s install DESTDIR="$root" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
  tail -n 30 "$tmp/make.log" >&2
  echo "test-install: FAIL: make install DESTDIR=$root PREFIX=$prefix" >&2
  exit 1
fi
pass "make install DESTDIR=\$tmp PREFIX=$prefix"

# Every file install should have put somewhere, from the sources.
expected=()
for tool in sc-keygen sc-seal sc-open sc-handshake sc-logcheck sc-chat sc-inbox; do expected+=("$bin/$tool"); done
for file in lib/securechat/*.bash; do expected+=("$root$prefix/$file"); done
for page in man/*.1; do expected+=("$mandir/man1/${page#man/}"); done
for page in man/*.7; do expected+=("$mandir/man7/${page#man/}"); done
for file in completions/bash/*; do
  [ -f "$file" ] && expected+=("$root$prefix/share/bash-completion/completions/${file#completions/bash/}")
done
for file in completions/zsh/_*; do
  [ -f "$file" ] && expected+=("$root$prefix/share/zsh/site-functions/${file#completions/zsh/}")
done
for file in completions/fish/*.fish; do
  [ -f "$file" ] && expected+=("$root$prefix/share/fish/vendor_completions.d/${file#completions/fish/}")
done
units=$root$prefix/lib/systemd/system
for file in contrib/systemd/*.socket contrib/systemd/*.service; do expected+=("$units/${file#contrib/systemd/}"); done
missing=0
for file in "${expected[@]}"; do
  [ -f "$file" ] || {
    echo "test-install: not installed: ${file#"$root"}" >&2
    missing=$((missing + 1))
  }
done
check "${#expected[@]} files installed (tools, sc-chat, sc-inbox, lib/securechat, man pages, completions, units)" [ "$missing" -eq 0 ]
check "installed ${#expected[@]} files and no others" \
  [ "$(find "$root" -type f | wc -l)" -eq $((${#expected[@]} + 2)) ]
for tool in sc-keygen sc-seal sc-open sc-handshake sc-logcheck sc-chat sc-inbox; do
  check "$tool is executable (0755)" [ "$(stat -c %a "$bin/$tool")" = 755 ]
done

# The inbox service's units: installed 0644, not enabled (no wants links), ExecStart= on the
# installed sc-inbox; systemd-analyze verify accepts them (with ExecStart= pointed into $tmp,
# where the script is).
for unit in "$units"/*; do
  check "${unit#"$root"} is 0644" [ "$(stat -c %a "$unit")" = 644 ]
done
check "no unit is enabled by make install" [ -z "$(find "$root" -name '*.wants' -o -type l | head -n 1)" ]
check "sc-inbox@.service runs $prefix/bin/sc-inbox" \
  grep -q "^ExecStart=$prefix/bin/sc-inbox " "$units/sc-inbox@.service"
check "no @BINDIR@ left in the units" [ -z "$(grep -l '@BINDIR@' "$units"/* || true)" ]
if command -v systemd-analyze >/dev/null; then
  mkdir "$tmp/units"
  for unit in "$units"/*; do sed "s|=$prefix/bin/|=$bin/|" "$unit" >"$tmp/units/${unit##*/}"; done
  verified=$(cd "$tmp/units" && systemd-analyze verify --man=no sc-inbox.socket sc-inbox@.service 2>&1) &&
    [ -z "$verified" ] || verified="failed: $verified"
  check "systemd-analyze verify sc-inbox.socket sc-inbox@.service${verified:+ ($verified)}" [ -z "$verified" ]
fi

# The binaries need nothing from the Swift toolchain.
for tool in sc-keygen sc-seal sc-open sc-handshake sc-logcheck; do
  if ldd "$bin/$tool" 2>&1 | grep -qi swift; then fail "$tool links a Swift library dynamically"; fi
  version=$(run "$tool" --version 2>&1) || true
  check "$tool --version with PATH=\$tmp$prefix/bin:/usr/bin ($version)" [ "$version" = "$tool $(cat VERSION)" ]
done
version=$(run sc-chat --version 2>&1) || true
check "sc-chat --version ($version)" [ "$version" = "sc-chat $(cat VERSION)" ]
version=$(run sc-inbox --version 2>&1) || true
check "sc-inbox --version ($version)" [ "$version" = "sc-inbox $(cat VERSION)" ]

# A file sealed and opened again, binary and armored; a tampered copy is refused with status 1.
run sc-keygen -o k.key 2>/dev/null
head -c 200000 /dev/urandom >"$work/plain"
run sc-seal -k k.key <"$work/plain" >"$work/plain.sc" 2>/dev/null || true
run sc-open -k k.key <"$work/plain.sc" >"$work/opened" 2>/dev/null || true
check "sc-keygen, sc-seal and sc-open: 200000 bytes round trip" cmp -s "$work/plain" "$work/opened"
run sc-seal -a -k k.key -o plain.asc plain 2>/dev/null || true
run sc-open -k k.key -o opened.asc plain.asc 2>/dev/null || true
check "armored round trip" cmp -s "$work/plain" "$work/opened.asc"
cp "$work/plain.sc" "$work/tampered.sc"
printf 'X' | dd of="$work/tampered.sc" bs=1 seek=1000 conv=notrunc status=none
status=0
run sc-open -k k.key -o tampered tampered.sc 2>/dev/null || status=$?
refused=false
[ "$status" -eq 1 ] && [ ! -e "$work/tampered" ] && refused=true
check "a tampered file is refused (status $status) and leaves no output" $refused

# A chat between two installed sc-chat, not on a terminal; Bob logs it.
run sc-keygen --log -o chat.seal --verify-key chat.verify 2>/dev/null
# listening PORT: a socket in state LISTEN on 127.0.0.1:PORT (the kernel's table: no ss needed).
listening() { grep -q " 0100007F:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp; }
chat_ok=false
for _ in 1 2 3; do
  port=$((20000 + RANDOM % 40000))
  listening "$port" && continue
  rm -f "$work"/bob.* "$work"/alice.* "$work/chat.log"
  # Bob sends his line after 2 s and then ends; Alice's side stays open until Bob has ended,
  # so that each receives the other's line before the final frames.
  (
    sleep 2
    printf 'hi alice\n'
  ) | run sc-chat -n bob -k k.key -b 127.0.0.1 --log chat.log --log-key chat.seal listen "$port" \
    >"$work/bob.out" 2>"$work/bob.err" &
  bob=$!
  for _ in $(seq 100); do
    listening "$port" && break
    kill -0 "$bob" 2>/dev/null || break
    sleep 0.1
  done
  alice_status=0
  {
    printf 'hello bob\n'
    for _ in $(seq 150); do
      kill -0 "$bob" 2>/dev/null || break
      sleep 0.1
    done
  } | run sc-chat -n alice -k k.key connect 127.0.0.1 "$port" >"$work/alice.out" 2>"$work/alice.err" ||
    alice_status=$?
  bob_status=0
  wait "$bob" || bob_status=$?
  if grep -q 'cannot listen' "$work/bob.err"; then continue; fi
  chat_ok=true
  break
done
if $chat_ok; then
  bob_code=$(sed -n 's/^sc-chat: verification code: //p' "$work/bob.err")
  alice_code=$(sed -n 's/^sc-chat: verification code: //p' "$work/alice.err")
  ended=false
  [ "$bob_status" -eq 0 ] && [ "$alice_status" -eq 0 ] && ended=true
  check "sc-chat listen and connect end with status 0 ($bob_status, $alice_status)" $ended
  same=false
  [ -n "$bob_code" ] && [ "$bob_code" = "$alice_code" ] && same=true
  check "both sides show the same verification code ($bob_code)" $same
  check "bob received alice's message" grep -q '] alice: hello bob$' "$work/bob.out"
  check "alice received bob's message" grep -q '] bob: hi alice$' "$work/alice.out"
  logcheck=$(run sc-logcheck -k chat.verify chat.log 2>&1) || true
  # 8 entries: send-open, the hello (h INSTANCE) and one line sent, send-close, and the same
  # four on the receiving side (sc-chat(1), Chat lines).
  check "sc-logcheck verifies bob's log ($logcheck)" [ "$logcheck" = "chat.log: 8 entries verified" ]
else
  fail "sc-chat: no free port to listen on"
fi
if [ "$failures" -gt 0 ]; then head -n 20 "$work"/bob.* "$work"/alice.* >&2 || true; fi

# The man pages render, and man finds them where they were installed.
for page in "$mandir"/man1/sc-*.1 "$mandir"/man7/*.7; do
  name=$(basename "$page")
  name=${name%.[17]}
  rendered=$(mandoc -Tascii "$page" 2>&1 | sed 's/.\x08//g') || true
  check "${page#"$root"} renders" grep -q "^ *$name - " <<<"$rendered"
done
if command -v man >/dev/null; then
  found=$(man -M "$mandir" -w 7 securechat 2>/dev/null) || true
  check "man -M finds securechat(7)" [ "$found" = "$mandir/man7/securechat.7" ]
  check "man -l renders sc-chat(1)" grep -q 'sc-chat' <(man -l "$mandir/man1/sc-chat.1" 2>/dev/null)
fi

if ! make -s uninstall DESTDIR="$root" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
  cat "$tmp/make.log" >&2
  fail "make uninstall"
fi
left=$(find "$root" ! -type d | sed "s|^$root||" | sort | tr '\n' ' ')
check "make uninstall removes what it installed and nothing else (left: $left)" \
  [ "$left" = "$prefix/bin/other-tool $prefix/share/man/man1/other.1 " ]

if [ "$failures" -gt 0 ]; then
  echo "test-install: $failures checks failed" >&2
  exit 1
fi
echo "test-install: every check passed"
