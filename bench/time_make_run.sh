#!/usr/bin/env bash
# Times the README's main job: `make run` from its start until the demo's summary ends (its
# "AWS calls per key" line), then stops the stack. Prints the wall time, the load average at
# the start and the CPU-seconds the whole machine was busy meanwhile (from /proc/stat: user,
# nice, system, irq, softirq), so that a figure says how much work it was as well as how long.
#
#     bench/time_make_run.sh             # in a checkout that `make setup` (or `make test`) built
#     bench/time_make_run.sh run.log     # keep make run's output in run.log
#
# Not part of `make bench` or the tests: it runs the whole stack for about a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-$(mktemp)}
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
load=$(cut -d' ' -f1 /proc/loadavg)
cpu_before=$(busy)
start=$(date +%s.%N)
setsid make run >"$log" 2>&1 &
pid=$!
# Ctrl-C's way out (SIGTERM to make and the stack); the stack takes a few seconds to stop its
# processes, and the next run must not start beside them.
stop() {
    kill -- "-$pid" 2>/dev/null || return 0
    for _ in $(seq 150); do
        kill -0 -- "-$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
}
trap stop EXIT
until grep -q "AWS calls per key" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "make run ended before the summary; its output:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    sleep 0.2
done
end=$(date +%s.%N)
cpu_after=$(busy)
ticks=$(getconf CLK_TCK)
grep -A 20 "^Measured" "$log" || true
awk -v s="$start" -v e="$end" -v b="$cpu_before" -v a="$cpu_after" -v t="$ticks" -v l="$load" \
    'BEGIN { printf "make run to the summary: %.1f s (load average %s at the start; machine busy %.0f CPU-s)\n", e - s, l, (a - b) / t }'
