#!/bin/bash
# `make check`: builds, runs every XCTest (unit tests, vectors, end-to-end and process tests),
# lints the man pages and shell scripts, and ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --disable-swift-testing 2>&1 | tee "$log" || status=$?

# Checks outside XCTest, each one pass or fail in the summary.
lint_checks=0
lint_failures=0
lint() {
  lint_checks=$((lint_checks + 1))
  if ! "$@" >&2; then lint_failures=$((lint_failures + 1)); fi
}
lint mandoc -Tlint -Wwarning man/*.1 man/*.7
shell_scripts=(scripts/*.sh .ci/run)
for script in bin/sc-chat bin/sc-inbox; do
  if [ -f "$script" ]; then shell_scripts+=("$script"); fi
done
lint shellcheck "${shell_scripts[@]}"
lint shellcheck -s bash completions/bash/*
# Every fuzz target (scripts/fuzz.sh) for a few seconds, with its own build.
lint env FUZZ_SECONDS=3 scripts/fuzz.sh
# make install into a temporary DESTDIR (builds the release binaries), the installed tools run
# without the toolchain, make uninstall leaves nothing behind.
lint scripts/test-install.sh

# XCTest's own closing line: "Executed N tests, with S tests skipped and F failures ..."
summary=$(grep -E '^[[:space:]]*Executed [0-9]+ tests?, with' "$log" | tail -n 1 || true)
executed=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
failed=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$summary")
skipped=$(grep -oE '[0-9]+ tests? skipped' <<<"$summary" | grep -oE '^[0-9]+' || echo 0)
executed=${executed:-0}
failed=${failed:-0}
failed=$((failed + lint_failures))
echo "check: $((executed - skipped - failed + lint_checks)) passed, $failed failed, $skipped skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$executed" -eq 0 ]; then exit 1; fi
