# shellcheck shell=bash
# Sourced by the benchmark scripts: a work directory in a tmpfs, and its removal.
# The caller defines die MESSAGE and the globals work and mounted (both "" at first).

# make_work_dir NAME NEEDED_KIB: sets $work to a new directory NAME.XXXXXX in $BENCH_TMPFS (default
# /dev/shm) when that is a writable tmpfs with NEEDED_KIB free; as root, mounts a tmpfs of its own
# otherwise (and sets $mounted). Files made there are private (umask 077).
make_work_dir() {
  local name=$1 needed=$2 available parent
  available=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
  [ "$available" -ge "$needed" ] ||
    die "need $((needed / 1024)) MiB of free memory for the tmpfs files, have $((available / 1024)) MiB"
  umask 077
  parent=${BENCH_TMPFS:-/dev/shm}
  if [ -d "$parent" ] && [ -w "$parent" ] && [ "$(stat -f -c %T "$parent")" = tmpfs ] &&
    [ "$(df -Pk "$parent" | awk 'NR == 2 { print $4 }')" -ge "$needed" ]; then
    work=$(mktemp -d "$parent/$name.XXXXXX")
  elif [ "$(id -u)" -eq 0 ]; then
    mounted=$(mktemp -d "${TMPDIR:-/tmp}/$name-mnt.XXXXXX")
    mount -t tmpfs -o "size=$((needed + 65536))k,mode=0700" none "$mounted" || {
      rmdir -- "$mounted"
      mounted=""
      die "cannot mount a tmpfs"
    }
    work=$mounted/work
    mkdir "$work"
  else
    die "$parent is not a writable tmpfs with $((needed / 1024)) MiB free; set BENCH_TMPFS or run as root"
  fi
}

# remove_work_dir: removes $work and unmounts $mounted, if they exist.
remove_work_dir() {
  if [ -n "$work" ] && [ -d "$work" ]; then rm -rf -- "$work"; fi
  if [ -n "$mounted" ]; then umount -- "$mounted" 2>/dev/null && rmdir -- "$mounted"; fi
  work=""
  mounted=""
}
