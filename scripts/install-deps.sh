#!/bin/sh
# Installs the Debian packages SecureChat needs to build, test, benchmark and demo, if any are
# missing. Used by every Makefile target, so a fresh machine needs nothing but `make check`.
set -eu

packages="libssl-dev libsodium-dev libdeflate-dev pkg-config socat age hyperfine spiped gnuplot-nox time mandoc shellcheck tmux zsh fish bash-completion"

missing=""
for package in $packages; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $package" ;;
  esac
done
[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "install-deps: need root (or sudo) to install:$missing" >&2
  exit 2
fi
# shellcheck disable=SC2086  # the package list is meant to split into words
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
