#!/usr/bin/env bash
# Start-up time and memory (issue 10, item 8), beside the floor `python -c pass`:
#   - `mentorbot --help`: wall time and peak RSS;
#   - the console ready (banner shown, prompt read; stdin is empty, so it then exits);
#   - the console's peak RSS after `/mentor suggest` + `/mentor browse` on a community
#     seeded by bench/commands.py (100,000 members, 10,000 mentors; --quick: 2,000 / 200).
# Wall time is the best of several runs; memory is the largest peak seen.
#
#   bench/startup.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
BIN="$ROOT/.venv/bin/mentorbot"
QUICK=""
RUNS=5
if [ "${1:-}" = "--quick" ]; then
  QUICK="--quick"
  RUNS=2
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# No configuration or platform token from the caller's environment may change what starts.
unset MENTORBOT_CONFIG DISCORD_TOKEN SLACK_BOT_TOKEN SLACK_APP_TOKEN DATABASE_URL || true
# Measure start-up as an installed bot starts: from compiled bytecode. (pip compiles the
# dependencies' bytecode at install; this project is installed editable, so its own is
# compiled here. With PYTHONDONTWRITEBYTECODE set and no cache, every start would compile
# ~90 source files again, about 0.3-0.5 s of the console's start on this machine.)
unset PYTHONDONTWRITEBYTECODE || true
"$PY" -m compileall -q -j 0 bot core adapters >/dev/null

# run_once CMD...: prints "<wall seconds> <peak RSS KiB>" for one run (stdin empty).
if [ -x /usr/bin/time ]; then
  run_once() {
    (cd "$TMP" && /usr/bin/time -v "$@" </dev/null >/dev/null 2>"$TMP/time.txt") || {
      cat "$TMP/time.txt" >&2
      return 1
    }
    awk -F': ' '
      /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
      /Maximum resident set size/ { rss = $2 }
      END { printf "%.3f %d\n", wall, rss }' "$TMP/time.txt"
  }
else
  # No /usr/bin/time: the same two figures from Python's wait4 (ru_maxrss is in KiB).
  run_once() {
    (cd "$TMP" && "$PY" - "$@" <<'PY'
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(1)
print(f"{time.perf_counter() - start:.3f} {usage.ru_maxrss}")
PY
    )
  }
fi

# measure LABEL TARGET CMD...: best wall time and largest peak RSS over $RUNS runs.
FLOOR_WALL=""
measure() {
  local label=$1 target=$2
  shift 2
  local best="" peak=0 wall rss
  for _ in $(seq "$RUNS"); do
    read -r wall rss < <(run_once "$@")
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$wall; fi
    if [ "$rss" -gt "$peak" ]; then peak=$rss; fi
  done
  local ratio=""
  if [ -n "$FLOOR_WALL" ]; then
    ratio=$(awk -v a="$best" -v b="$FLOOR_WALL" 'BEGIN { printf "  (%.1fx the floor)", a / b }')
  else
    FLOOR_WALL=$best
  fi
  awk -v l="$label" -v w="$best" -v r="$peak" -v x="$ratio" -v t="$target" \
    'BEGIN { printf "%-44s wall %6.2f s   peak RSS %6.1f MiB%s   %s\n", l, w, r / 1024, x, t }'
}

"$PY" -c "from core import db; db.upgrade('sqlite:///$TMP/console.db')"
seeded=$("$PY" "$ROOT/bench/commands.py" --seed-only "$TMP/seeded.db" $QUICK)
mentee=${seeded##*a mentee: @}
printf 'as @%s\n/mentor suggest\n/mentor browse\n' "$mentee" >"$TMP/lines.txt"
size=$([ -n "$QUICK" ] && echo "2,000" || echo "100,000")

measure "python -c pass (floor)" "" "$PY" -c pass
measure "mentorbot --help" "target <= 0.5 s" "$BIN" --help
measure "console ready" "target <= 1.2 s" "$BIN" console --database "sqlite:///$TMP/console.db"
measure "console: suggest + browse, $size members" "target RSS <= 150 MiB" \
  "$BIN" console --database "sqlite:///$TMP/seeded.db" --script "$TMP/lines.txt"
