#!/bin/sh
# Throughput of multilog: lines per second through `t` (timestamps) and `s`
# (rotation), upkeep's multilog against daemontools'. Not run by the tests.
#
#   bench/multilog.sh [LINES] [UPKEEP_MULTILOG] [DAEMONTOOLS_MULTILOG]
#
# Builds upkeep in release mode unless UPKEEP_MULTILOG is given. Input comes
# from a regular file so the feeder costs nothing; the log goes to a fresh
# directory under ${TMPDIR:-/tmp}. Prints one line per program and script.
set -eu

lines=${1:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
ours=${2:-}
theirs=${3:-/usr/bin/multilog}
if [ -z "$ours" ]; then
  (cd "$here" && cargo build --release --quiet --bin multilog)
  ours=$here/target/release/multilog
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/multilog-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# 80-byte lines, numbered, like a chatty daemon's.
awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++) printf "%08d daemon[1234]: request served in 12ms from 198.18.0.1 status=200 ok\n", i }' > "$work/input"

now() { date +%s.%N; }

run() { # name binary script...
  name=$1; bin=$2; shift 2
  [ -x "$bin" ] || { echo "$name: $bin not found, skipped"; return; }
  rm -rf "$work/log"
  start=$(now)
  "$bin" "$@" "$work/log" < "$work/input"
  end=$(now)
  files=$(ls "$work/log" | grep -c '^@' || true)
  awk -v n="$lines" -v s="$start" -v e="$end" -v name="$name" -v script="$*" -v f="$files" \
    'BEGIN { t = e - s; printf "%-12s %-22s %9.3f s %12.0f lines/s  (%d rotated files)\n", name, script, t, n / t, f }'
}

for script in "t s16777215 n1000" "t s99999 n1000" "s16777215 n1000"; do
  # shellcheck disable=SC2086
  run upkeep "$ours" $script
  # shellcheck disable=SC2086
  run daemontools "$theirs" $script
done
