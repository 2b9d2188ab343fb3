# shellcheck shell=sh
# Sourced by the benchmark scripts (and by `make bench`): appends their figures to the CSV file
# named by the environment variable BENCH_CSV, which scripts/bench-plot.sh turns into a picture.
# Every function does nothing when BENCH_CSV is unset or empty, so each script still runs alone.
# POSIX sh, so that bench-log.sh (sh) and the Makefile (/bin/sh) can source it too.
#
# Columns: kind,benchmark,figure,subject,value,unit,target,result
#   machine  the machine and tools the figures come from: figure = cpu, cores, kernel, openssl,
#            swift, age, spiped, securechat, date or load; value = text (written once, first).
#   measure  one measured subject of a figure (a bar): value and unit, target and result empty.
#   target   the figure's target in the figure's own unit (e.g. 1.5 x age -d's MB/s), subject
#            "target"; target = how it is defined (">= 1.5 x age -d").
#   ratio    the verdict: the ratio with unit "x" and its target (">= 1.5"), or, for an absolute
#            target, the value itself in its unit (">= 1500000"); result PASS or MISS. A figure
#            without a target has ratio rows with target and result empty (information).
# A figure may have several measure and ratio rows, and rows of one figure may come from several
# scripts (peak RSS): the plot makes one panel per figure name. The plot shows as peers (grey)
# the subjects whose name starts with age, openssl, spiped or "bare tools"; the rest are ours.
# Fields with a comma, a double quote or a line break are quoted ("" for a quote), as RFC 4180.

bench_header='kind,benchmark,figure,subject,value,unit,target,result'
bench_name=${bench_name:-}

# bench_field TEXT: prints TEXT as one CSV field.
bench_field() {
  case $1 in
    *[,\"]* | *'
'* | *"$(printf '\r')"*) ;;
    *)
      printf '%s' "$1"
      return 0
      ;;
  esac
  _bench_rest=$1
  _bench_out=""
  while :; do
    case $_bench_rest in
      *\"*)
        _bench_out="$_bench_out${_bench_rest%%\"*}\"\""
        _bench_rest=${_bench_rest#*\"}
        ;;
      *)
        _bench_out="$_bench_out$_bench_rest"
        break
        ;;
    esac
  done
  printf '"%s"' "$_bench_out"
}

# bench_row KIND BENCHMARK FIGURE SUBJECT VALUE UNIT TARGET RESULT: appends one row.
bench_row() {
  [ -n "${BENCH_CSV:-}" ] || return 0
  _bench_line=""
  for _bench_value in "$@"; do
    _bench_line="$_bench_line,$(bench_field "$_bench_value")"
  done
  printf '%s\n' "${_bench_line#,}" >>"$BENCH_CSV"
}

# bench_machine_rows BIN_DIR: appends the machine rows (BIN_DIR's sc-seal gives our version).
bench_machine_rows() {
  _bench_cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
  bench_row machine "" cpu "" "${_bench_cpu:-unknown}" "" "" ""
  bench_row machine "" cores "" "$(nproc 2>/dev/null || echo unknown)" "" "" ""
  bench_row machine "" kernel "" "$(uname -sr)" "" "" ""
  bench_row machine "" openssl "" "$(openssl version 2>/dev/null || echo unknown)" "" "" ""
  bench_row machine "" swift "" "$( (swift --version 2>/dev/null || echo unknown) | head -n 1)" "" "" ""
  bench_row machine "" age "" "$(age --version 2>/dev/null || echo unknown)" "" "" ""
  bench_row machine "" spiped "" "$( (spiped -v 2>&1 || echo unknown) | head -n 1)" "" "" ""
  _bench_version=$("$1/sc-seal" --version 2>/dev/null || echo unknown)
  # The scripts' own checkout, or (for the Makefile, whose $0 is the shell) the current directory.
  _bench_commit=$(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null ||
    git describe --always --dirty 2>/dev/null || true)
  bench_row machine "" securechat "" "$_bench_version${_bench_commit:+ (commit $_bench_commit)}" "" "" ""
  bench_row machine "" date "" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "" "" ""
  bench_row machine "" load "" "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)" "" "" ""
}

# bench_init FILE BIN_DIR: starts FILE afresh with the header and the machine rows.
bench_init() {
  printf '%s\n' "$bench_header" >"$1"
  BENCH_CSV=$1 bench_machine_rows "$2"
}

# bench_begin BENCHMARK BIN_DIR: names the rows that follow after BENCHMARK (the script's name);
# when BENCH_CSV names a file that is missing or empty (a script run alone), starts it first.
# Called before the script changes directory.
bench_begin() {
  bench_name=$1
  [ -n "${BENCH_CSV:-}" ] || return 0
  # Made absolute: the scripts change directory.
  case $BENCH_CSV in
    /*) ;;
    *) BENCH_CSV=$PWD/$BENCH_CSV ;;
  esac
  export BENCH_CSV
  [ -s "$BENCH_CSV" ] || bench_init "$BENCH_CSV" "$2"
}

# bench_measure FIGURE SUBJECT VALUE UNIT
bench_measure() { bench_row measure "$bench_name" "$1" "$2" "$3" "$4" "" ""; }
# bench_target FIGURE VALUE UNIT DEFINITION
bench_target() { bench_row target "$bench_name" "$1" target "$2" "$3" "$4" ""; }
# bench_ratio FIGURE SUBJECT VALUE UNIT TARGET RESULT (TARGET and RESULT "" for information)
bench_ratio() { bench_row ratio "$bench_name" "$1" "$2" "$3" "$4" "$5" "$6"; }

# bench_rows FILE: records FILE's lines, each KIND FIGURE SUBJECT VALUE UNIT TARGET RESULT
# separated by the ASCII unit separator (\037; a tab would not keep empty fields): how the
# embedded Python parts hand their figures over.
bench_rows() {
  [ -n "${BENCH_CSV:-}" ] || return 0
  _bench_us=$(printf '\037')
  while IFS=$_bench_us read -r _bench_kind _bench_figure _bench_subject _bench_value _bench_unit \
    _bench_target _bench_result; do
    bench_row "$_bench_kind" "$bench_name" "$_bench_figure" "$_bench_subject" "$_bench_value" \
      "$_bench_unit" "$_bench_target" "$_bench_result"
  done <"$1"
}

# bench_count N: N as a short label for figure names: 1000000 -> 1M, 10000 -> 10k, 1234 -> 1234.
bench_count() {
  if [ "$1" -ge 1000000 ] && [ $(($1 % 1000000)) -eq 0 ]; then
    printf '%sM' $(($1 / 1000000))
  elif [ "$1" -ge 1000 ] && [ $(($1 % 1000)) -eq 0 ]; then
    printf '%sk' $(($1 / 1000))
  else
    printf '%s' "$1"
  fi
}

# bench_mib_label MIB: 1024 -> "1 GiB", 512 -> "512 MiB".
bench_mib_label() {
  if [ "$1" -ge 1024 ] && [ $(($1 % 1024)) -eq 0 ]; then
    printf '%s GiB' $(($1 / 1024))
  else
    printf '%s MiB' "$1"
  fi
}
