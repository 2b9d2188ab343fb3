#!/usr/bin/env bash
# Draws the figures of `make bench` as one SVG picture with gnuplot: one panel per figure of the
# CSV that the benchmark scripts write through scripts/bench-record.sh, with a bar for each
# measured subject (ours in blue, peers in grey: age, openssl, spiped, the bare tools), a value
# label on each bar, the target as a red dashed line (its value on the right-hand axis), and the
# verdict in the panel's title (green PASS, red MISS, black for figures without a target). A
# header line describes the machine (CPU, cores, kernel, OpenSSL, Swift, date, load). Figures
# that are absent (a script was skipped) are simply not drawn.
#
# Usage: scripts/bench-plot.sh CSV SVG      (e.g. bench/results.csv bench/results.svg)
#
# Exit status: 0 when the picture was written; 2 on a usage error, a missing gnuplot, a CSV that
# is not ours, or a gnuplot failure (SVG is then left as it was).
set -euo pipefail
export LC_ALL=C

me=bench-plot.sh
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 2
}
[ $# -eq 2 ] || {
  printf 'usage: %s CSV SVG\n' "$0" >&2
  exit 2
}
csv=$1
svg=$2
[ -r "$csv" ] || die "cannot read $csv"
command -v gnuplot >/dev/null 2>&1 || die "gnuplot not found (scripts/install-deps.sh installs gnuplot-nox)"
[ "$(head -n 1 -- "$csv" | tr -d '\r')" = "kind,benchmark,figure,subject,value,unit,target,result" ] ||
  die "$csv does not start with the header of scripts/bench-record.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

columns=4
panel_width=350
panel_height=330
header_height=90

# One awk pass: the CSV (RFC 4180 fields) split into a data file per figure, $tmp/N.dat (x,
# subject, value, 0 ours / 1 peer, label; tab-separated), and the gnuplot script that draws them.
awk -v dir="$tmp" -v svg="$tmp/out.svg" -v columns="$columns" -v pw="$panel_width" \
  -v ph="$panel_height" -v hh="$header_height" '
# parse(RECORD): splits a CSV record into F[1..n]; returns n.
function parse(record,   n, i, c, field, quoted) {
  n = 0
  field = ""
  quoted = 0
  for (i = 1; i <= length(record); i++) {
    c = substr(record, i, 1)
    if (quoted) {
      if (c == "\"") {
        if (substr(record, i + 1, 1) == "\"") { field = field "\""; i++ } else quoted = 0
      } else field = field c
    } else if (c == "\"") quoted = 1
    else if (c == ",") { F[++n] = field; field = "" }
    else field = field c
  }
  F[++n] = field
  return n
}
# q(TEXT): TEXT as a gnuplot string literal (single quotes, a quote doubled, tabs and line breaks
# as spaces).
function q(text) {
  gsub(/[\t\r\n]/, " ", text)
  gsub(/\047/, "\047\047", text)
  return "\047" text "\047"
}
# human(V): a short label for a number: 1534000 -> 1.53M, 554321 -> 554k, 86000 -> 86.0k,
# 14.3 -> 14.3.
function human(v,   n, a) {
  if (v !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) return v
  n = v + 0
  a = n < 0 ? -n : n
  if (a >= 1e6) return sprintf("%.2fM", n / 1e6)
  if (a >= 1e5) return sprintf("%.0fk", n / 1e3)
  if (a >= 1e4) return sprintf("%.1fk", n / 1e3)
  return v
}
# with_unit(V, UNIT): "1.34x", "14.3 MiB", "1.53M lines/s".
function with_unit(v, unit) {
  if (unit == "x") return human(v) "x"
  if (unit == "%") return human(v) " %"
  return human(v) (unit == "" ? "" : " " unit)
}
# target_text(T): ">= 1500000" -> ">= 1.50M".
function target_text(t,   op, rest) {
  if (match(t, /^[<>]?=? */)) { op = substr(t, 1, RLENGTH); rest = substr(t, RLENGTH + 1) }
  else { op = ""; rest = t }
  return op human(rest)
}
function figure_index(name) {
  if (!(name in index_of)) { index_of[name] = ++figures; names[figures] = name }
  return index_of[name]
}
function peer(subject) {
  return subject ~ /^(age|openssl|spiped|bare tools)( |$)/
}
NR == 1 { next }
{
  record = $0
  # A quoted field may hold a line break: read on while the quotes are unbalanced.
  while (gsub(/"/, "\"", record) % 2 == 1 && (getline more) > 0) record = record "\n" more
  sub(/\r$/, "", record)
  if (record == "") next
  n = parse(record)
  kind = F[1]; figure = F[3]; subject = F[4]; value = F[5]; unit = F[6]; target = F[7]; result = F[8]
  if (kind == "machine") { machine[figure] = value; next }
  if (kind != "measure" && kind != "target" && kind != "ratio") next
  i = figure_index(figure)
  if (kind == "measure") {
    x = bars[i]++
    gsub(/[\t\r\n]/, " ", subject)
    label = human(value)
    printf "%d\t%s\t%s\t%d\t%s\n", x, subject, value + 0, peer(subject), label > (dir "/" i ".dat")
    if (!(i in units)) units[i] = unit
    if (value + 0 > top[i]) top[i] = value + 0
  } else if (kind == "target") {
    target_value[i] = value + 0
    target_label[i] = human(value)
    if (value + 0 > top[i]) top[i] = value + 0
  } else {
    ratios[i]++
    ratio_subject[i] = subject
    ratio_text[i] = with_unit(value, unit)
    ratio_target[i] = target
    if (target != "") {
      judged[i]++
      if (result == "PASS") passed[i]++
      else failed[i]++
      # The worst: the smallest against >=, the largest against <=.
      worse = !(i in worst) || (target ~ /^>/ ? value + 0 < worst[i] : value + 0 > worst[i])
      if (worse) { worst[i] = value + 0; worst_text[i] = with_unit(value, unit); worst_target[i] = target }
    } else info[i]++
  }
}
END {
  rows = int((figures + columns - 1) / columns)
  if (rows < 1) rows = 1
  width = columns * pw
  height = hh + rows * ph
  cpu = ("cpu" in machine) ? machine["cpu"] : "unknown CPU"
  split(("openssl" in machine) ? machine["openssl"] : "", o, " ")
  swift = ("swift" in machine) ? machine["swift"] : ""
  sub(/^Swift version /, "", swift)
  sub(/ .*/, "", swift)
  line1 = "SecureChat benchmarks (make bench)" \
    (("securechat" in machine) ? ", " machine["securechat"] : "") \
    (("date" in machine) ? ", " machine["date"] : "")
  line2 = cpu ", " (("cores" in machine) ? machine["cores"] : "?") " cores" \
    (("kernel" in machine) ? ", " machine["kernel"] : "") \
    ((o[1] != "") ? ", " o[1] " " o[2] : "") \
    ((swift != "") ? ", Swift " swift : "") \
    (("age" in machine) ? ", age " machine["age"] : "") \
    (("spiped" in machine) ? ", " machine["spiped"] : "") \
    (("load" in machine) ? ", load average " machine["load"] : "")
  line3 = "blue: SecureChat; grey: peers; red dashed line: the target (its value on the right-hand axis); " \
    "panel titles: green PASS, red MISS, black information"
  gp = dir "/plot.gp"
  print "set terminal svg size " width "," height " font \"sans,11\" noenhanced background \"#ffffff\"" > gp
  print "set output " q(svg) > gp
  print "set datafile separator \"\\t\"" > gp
  print "set datafile commentschars \"\"" > gp
  print "set style fill solid 0.85 border -1" > gp
  print "set boxwidth 0.6" > gp
  print "set grid ytics lc rgb \"#dddddd\"" > gp
  print "set border 3" > gp
  print "set ytics nomirror font \",9\"" > gp
  print "set xtics nomirror rotate by 25 right font \",9\" scale 0" > gp
  print "set lmargin 10" > gp
  print "set rmargin 8" > gp
  print "set tmargin 4" > gp
  print "set bmargin 5" > gp
  print "unset key" > gp
  printf "set multiplot layout %d,%d title %s . \"\\n\" . %s . \"\\n\" . %s font \",11\"\n", rows, columns,
    q(line1), q(line2), q(line3) > gp
  if (figures == 0) {
    print "unset border; unset tics; unset grid" > gp
    print "set label 1 \"no figures in the CSV\" at graph 0.5, graph 0.5 center" > gp
    print "set xrange [0:1]; set yrange [0:1]" > gp
    print "plot -1" > gp
  }
  for (i = 1; i <= figures; i++) {
    # The second title line: the verdict, or "information".
    colour = "#000000"
    if (judged[i] == 1 && ratios[i] == 1) {
      verdict = ratio_subject[i] " " ratio_text[i] " (" target_text(ratio_target[i]) ") " (failed[i] ? "MISS" : "PASS")
    } else if (judged[i] > 0) {
      verdict = "worst " worst_text[i] " (" target_text(worst_target[i]) "): " \
        (failed[i] ? failed[i] " of " judged[i] " MISS" : "all " judged[i] " PASS")
    } else if (ratios[i] > 0) {
      verdict = ratio_subject[i] " " ratio_text[i] " (information)"
    } else verdict = "(information)"
    if (judged[i] > 0) colour = failed[i] ? "#c53030" : "#2f855a"
    print "unset y2tics" > gp
    # Crowded labels lean more; large numbers get SI prefixes on the axis (1.5M).
    printf "set xtics rotate by %d right\n", (bars[i] > 4 ? 45 : 25) > gp
    print (top[i] >= 1e5 ? "set format y \"%.1s%c\"" : "set format y \"%g\"") > gp
    printf "set title %s . \"\\n\" . %s tc rgb \"%s\" font \",10\"\n", q(names[i]), q(verdict), colour > gp
    print "set ylabel " q(units[i]) > gp
    n = bars[i] + 0
    ymax = top[i] > 0 ? top[i] * 1.2 : 1
    printf "set xrange [-0.6:%g]\n", (n > 0 ? n : 1) - 0.4 > gp
    printf "set yrange [0:%g]\n", ymax > gp
    if (i in target_value) {
      printf "set y2range [0:%g]\n", ymax > gp
      printf "set y2tics (%s %g) nomirror tc rgb \"#c53030\" font \",9\" scale 0\n", q(target_label[i]), target_value[i] > gp
      t = sprintf("%g", target_value[i])
    } else t = ""
    file = q(dir "/" i ".dat")
    plot = ""
    if (n > 0) {
      plot = file " using 1:($4 == 0 ? $3 : 1/0) with boxes lc rgb \"#2b6cb0\", " \
        file " using 1:($4 == 1 ? $3 : 1/0) with boxes lc rgb \"#a0aec0\", " \
        file " using 1:3:5:xtic(2) with labels offset 0,0.6 font \",9\""
    }
    if (t != "") plot = plot (plot == "" ? "" : ", ") t " with lines dt 2 lw 2 lc rgb \"#c53030\""
    if (plot == "") plot = "-1"
    print "plot " plot > gp
  }
  print "unset multiplot" > gp
}' "$csv" || die "cannot read the figures of $csv"

gnuplot "$tmp/plot.gp" 2>"$tmp/gnuplot.log" || {
  cat -- "$tmp/gnuplot.log" >&2
  die "gnuplot failed"
}
[ -s "$tmp/out.svg" ] || die "gnuplot wrote no picture"
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$tmp/out.svg" 2>"$tmp/xml.log" || {
    cat -- "$tmp/xml.log" >&2
    die "gnuplot wrote an SVG that is not well-formed XML"
  }
fi
mv -- "$tmp/out.svg" "$svg" || die "cannot write $svg"
printf '%s: %s\n' "$me" "$svg"
