#!/bin/bash
# `make check`: builds, runs every XCTest (unit tests, vectors, end-to-end and process tests),
# lints the man pages and shell scripts, and ends with one summary line,
#   check: N passed, F failed, S skipped
# which .ci/run reads: keep its format.
#
# Everything the steps print goes to the log, .build/check.log (CHECK_LOG=FILE puts it elsewhere;
# `tail -f` it to watch a run). The screen gets one line per step and, for a failure, its
# details: every line of each failed test (its assertion messages and what it printed), the
# compiler's errors and warnings, the end of a failed step's output, and the last lines of the
# XCTest run when it stopped inside a test (a crash). Nothing here writes escape sequences, and
# swift writes none into a pipe.
set -euo pipefail
cd "$(dirname "$0")/.."

log=${CHECK_LOG:-.build/check.log}
mkdir -p "$(dirname "$log")"
: >"$log"
xctest=$(mktemp)
step_output=$(mktemp)
trap 'rm -f "$xctest" "$step_output"' EXIT
echo "check: the full log is $log"

# note LINE: on the screen and in the log.
note() {
  printf '%s\n' "$1"
  printf '%s\n' "$1" >>"$log"
}

note "check: swift build"
if ! swift build >>"$log" 2>&1; then
  grep -E 'error:' "$log" | head -n 40 || true
  tail -n 20 "$log"
  note "check: swift build failed; the full log is $log"
  echo "check: 0 passed, 1 failed, 0 skipped"
  exit 1
fi

# XCTest's lines go to the log; a test's lines reach the screen only when it fails (or when the
# run ends inside it). Outside the tests: the build's errors and warnings, and XCTest's errors.
note "check: swift test (the XCTest suite; each test's lines are in the log)"
status=0
swift test --disable-swift-testing 2>&1 | tee -a "$log" | tee "$xctest" | awk '
  function show(first, last, i) {
    for (i = first; i < last && i < first + 200; i++) print lines[i]
    if (last - first > 200) print "check: ... " (last - first - 200) " more lines of this test in the log"
    fflush()
  }
  /^Test Case .* started at / { inside = 1; count = 0; lines[count++] = $0; next }
  inside {
    lines[count++] = $0
    if ($0 ~ /^Test Case .* (passed|skipped) \(/) { inside = 0; count = 0 }
    else if ($0 ~ /^Test Case .* failed \(/) { show(0, count); inside = 0; count = 0 }
    next
  }
  /error:|warning:|Fatal error/ { print; fflush() }
  END {
    if (inside) {
      print "check: the XCTest run ended inside this test:"
      show(count > 200 ? count - 200 : 0, count)
    }
  }' || status=$?

# Checks outside XCTest, each one pass or fail in the summary: its output goes to the log, and
# the end of it to the screen when it fails.
lint_checks=0
lint_failures=0
lint() { # lint DESCRIPTION COMMAND...
  local what=$1
  shift
  lint_checks=$((lint_checks + 1))
  printf -- '--- check: %s\n' "$what" >>"$log"
  if "$@" >"$step_output" 2>&1; then
    cat "$step_output" >>"$log"
    note "check: ok: $what"
  else
    cat "$step_output" >>"$log"
    lint_failures=$((lint_failures + 1))
    note "check: FAILED: $what; its last lines:"
    tail -n 30 "$step_output"
  fi
}
lint "mandoc -Tlint man pages" mandoc -Tlint -Wwarning man/*.1 man/*.7
shell_scripts=(scripts/*.sh .ci/run)
for script in bin/sc-chat bin/sc-inbox lib/securechat/*.bash; do
  if [ -f "$script" ]; then shell_scripts+=("$script"); fi
done
# -x: sc-chat's source of lib/securechat/addressbook.bash is followed.
lint "shellcheck scripts, .ci/run, sc-chat, sc-inbox, lib/securechat" shellcheck -x "${shell_scripts[@]}"
lint "shellcheck bash completions" shellcheck -s bash completions/bash/*
# Every fuzz target (scripts/fuzz.sh) for a few seconds, with its own build.
lint "every fuzz target for 3 s (scripts/fuzz.sh)" env FUZZ_SECONDS=3 scripts/fuzz.sh
# make install into a temporary DESTDIR (builds the release binaries), the installed tools run
# without the toolchain, make uninstall leaves nothing behind.
lint "make install and uninstall (scripts/test-install.sh)" scripts/test-install.sh

# Tests counted from XCTest's "Test Case '...' passed|failed|skipped (...)" lines: a test with
# several failed assertions is one failed test, and a run that crashed still counts what ran.
count() { grep -cE "^Test Case .* $1 \\(" "$xctest" || true; }
passed=$(count passed)
failed=$(count failed)
skipped=$(count skipped)
# XCTest's own closing line, "Executed N tests, with ...", is missing when the run did not end.
if ! grep -qE '^[[:space:]]*Executed [0-9]+ tests?, with' "$xctest"; then
  note "check: swift test did not finish (status $status); its last lines:"
  tail -n 10 "$xctest"
  if [ "$failed" -eq 0 ]; then failed=1; fi
elif [ "$((passed + failed))" -eq 0 ]; then
  note "check: swift test ran no test"
  failed=1
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  note "check: swift test ended with status $status"
  failed=1
fi
passed=$((passed + lint_checks - lint_failures))
failed=$((failed + lint_failures))
note "check: the full log is $log"
echo "check: $passed passed, $failed failed, $skipped skipped" | tee -a "$log"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
