#!/bin/bash
# The doors in one run (`bench/run.sh doors`): interleaves, run by run, the
# burst through the CAF door, through the HTTP door and CAF's transport-only
# ceiling (pings the FRONT DOOR answers itself), then measures the idle daemon
# and the slow-application storm, and prints one Markdown table with the
# ratios against the goals of issue 21 (R3 3/7).
#
#   bench/run.sh doors                # A=1000 S=2000 B=8, 3 runs of each door
#   RUNS=5 bench/run.sh doors
#   RUNS=3 AGENTS=100 SUBS=200 IDLE_S=10 STORM_AGENTS=50 bench/run.sh doors
#
# Each run i sends the three bursts in an order rotated by i, so no door
# always runs first (or last) on this shared, noisy machine. The idle
# measurement starts a daemon on 1,000 agents (IDLE_AGENTS) written straight
# into its database, with the HTTP front on (the daemon's default 4 workers)
# and a notify-command (`true`) so the notifier does its rounds, and reads
# its CPU time from /proc over IDLE_S seconds. The storm is
# `switchboard-bench --storm` (200 agents, 500 ms applications; see the top
# of bench/switchboard_bench.cpp: the Docker Engine there is a test double,
# the agent servers are real).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
AGENTS=${AGENTS:-1000}
SUBS=${SUBS:-2000}
BURST=${BURST:-8}
IDLE_S=${IDLE_S:-30}
IDLE_AGENTS=${IDLE_AGENTS:-1000}
STORM_AGENTS=${STORM_AGENTS:-200}
RELOAD_DELAY_MS=${RELOAD_DELAY_MS:-500}
if ((RUNS < 3)); then
  echo "bench/run.sh doors: medians of at least 3 runs (RUNS=$RUNS)" >&2
  exit 2
fi
bin=build/bin
if [[ ! -x $bin/switchboard-bench || ! -x $bin/switchboardd || ! -x $bin/agent-server ]]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
burst=(--json --agents "$AGENTS" --subscriptions "$SUBS" --burst "$BURST")
doors=(caf http transport)
# A failed check is recorded in the JSON and shown in the table; it does not
# stop the other measurements (the transport-only run fails it by design).
one() {
  case $1 in
    caf) $bin/switchboard-bench "${burst[@]}" ;;
    http) $bin/switchboard-bench "${burst[@]}" --transport http ;;
    transport) $bin/switchboard-bench "${burst[@]}" --transport-only ;;
  esac >> "$out/$1.jsonl" || true
}
for i in $(seq 1 "$RUNS"); do
  for k in 0 1 2; do
    door=${doors[$(((i - 1 + k) % 3))]}
    echo "run $i/$RUNS: $door" >&2
    one "$door"
  done
done
echo "idle: $IDLE_AGENTS agents, ${IDLE_S} s" >&2
$bin/switchboard-bench --json --scale --agents "$IDLE_AGENTS" \
  --subscriptions "$SUBS" --transport http --idle "$IDLE_S" \
  --daemon-arg=--switchboard.notify-command=true > "$out/idle.json" || true
echo "storm: $STORM_AGENTS agents, ${RELOAD_DELAY_MS} ms applications" >&2
$bin/switchboard-bench --json --storm --agents "$STORM_AGENTS" \
  --reload-delay-ms "$RELOAD_DELAY_MS" > "$out/storm.json" || true
python3 - "$out" "$(nproc)" "$(cat /proc/loadavg)" <<'PY'
import json, os, statistics, sys
out, cores, load = sys.argv[1], sys.argv[2], sys.argv[3]
def load_lines(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
caf, http, wire = (load_lines(n + ".jsonl") for n in ("caf", "http", "transport"))
idle = (load_lines("idle.json") or [None])[0]
storm = (load_lines("storm.json") or [None])[0]
if not caf or not http or not wire:
    sys.exit("bench/run.sh doors: a door has no run (see the messages above)")
def med(rs, f): return statistics.median(f(r) for r in rs)
def rng(rs, f): return f"{min(f(r) for r in rs):,.0f}–{max(f(r) for r in rs):,.0f}"
rps = lambda r: r["reports_per_s"]
p99 = lambda r: r["p99_ms"]
cpu8k = lambda r: r["daemon_cpu_s"] * 8000 / r["reports"]
def verdict(ok): return "**met**" if ok else "**not met**"
def pct_range(xs): return f"{100*min(xs):.0f}–{100*max(xs):.0f}%"
a = caf[0]
print(f"Doors: {a['agents']} agents, {a['subscriptions']} subscriptions, "
      f"{a['burst']} reports each ({a['reports']:,} at once); {len(caf)} runs of "
      f"each door, interleaved; {cores} cores, load average at the end "
      f"{load.split()[0]} / {load.split()[1]} / {load.split()[2]} (1 / 5 / 15 min)\n")
print("| door | reports/s median (range) | p99 ms median (range) | daemon CPU s per 8,000 reports median (range) | check |")
print("|---|---|---|---|---|")
for name, rs in (("CAF door", caf), (f"HTTP door ({http[0].get('http_workers') or 'default'} threads, "
                  f"{http[0].get('http_connections', '?')} connections)", http),
                 ("transport only (CAF pings)", wire)):
    checks = ", ".join(sorted(set(r["check"] for r in rs)))
    if rs is wire:
        checks = "n/a (pings)"
    print(f"| {name} | {med(rs, rps):,.0f} ({rng(rs, rps)}) | {med(rs, p99):.0f} "
          f"({min(map(p99, rs)):.0f}–{max(map(p99, rs)):.0f}) | {med(rs, cpu8k):.2f} "
          f"({min(map(cpu8k, rs)):.2f}–{max(map(cpu8k, rs)):.2f}) | {checks} |")
# Ratios: of the medians, and within each run (the runs are interleaved).
http_caf = med(http, rps) / med(caf, rps)
caf_wire = med(caf, rps) / med(wire, rps)
cpu_ratio = med(http, cpu8k) / med(caf, cpu8k)
per_run = lambda xs, ys, f: [f(x) / f(y) for x, y in zip(xs, ys)]
print("\n| ratio | goal | median (per-run range) | |")
print("|---|---|---|---|")
print(f"| HTTP door / CAF door, reports/s | >= 80% | {100*http_caf:.0f}% "
      f"({pct_range(per_run(http, caf, rps))}) | {verdict(http_caf >= 0.8)} |")
print(f"| CAF door / transport-only, reports/s | >= 75% | {100*caf_wire:.0f}% "
      f"({pct_range(per_run(caf, wire, rps))}) | {verdict(caf_wire >= 0.75)} |")
cpu_runs = per_run(http, caf, cpu8k)
print(f"| daemon CPU per HTTP report / per CAF report | <= 1.5x | {cpu_ratio:.2f}x "
      f"({min(cpu_runs):.2f}–{max(cpu_runs):.2f}x) | {verdict(cpu_ratio <= 1.5)} |")
if idle and idle.get("idle_s", 0) > 0:
    pct = idle["idle_cpu_percent"]
    print(f"| idle daemon, {idle['agents']:,} agents, HTTP front and notifier on, "
          f"over {idle['idle_s']} s | < 0.2% of a core | {pct:.2f}% | "
          f"{verdict(pct < 0.2)} |")
else:
    print("| idle daemon | < 0.2% of a core | no measurement (see above) | **not met** |")
if storm:
    ok = storm["goal"] == "met"
    print(f"| storm: every report answered within apply-wait + 1 s, none waiting "
          f"for another agent's application | 0 late, 0 waiting | "
          f"{storm['late']} late, {storm['waited_for_others']} waiting | {verdict(ok)} |")
    print(f"\nStorm: {storm['agents']} agents on one subscription, each with a "
          f"container whose token application takes {storm['reload_delay_ms']} ms, "
          f"report a 429 at once over HTTP (one connection each); "
          f"Docker: {storm['docker']}; apply-wait {storm['apply_wait_ms']/1000:g} s\n")
    print("| answered in | p50 ms | p99 ms | max ms | late (> apply-wait + 1 s) | "
          "waiting (> own application + 1 s) | applications | every application done | daemon CPU s | check |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    applies = ", ".join(f"{k} {v}" for k, v in sorted(storm["applies"].items()))
    print(f"| {storm['wall_s']:.2f} s | {storm['p50_ms']:.0f} | {storm['p99_ms']:.0f} | "
          f"{storm['max_ms']:.0f} | {storm['late']} | {storm['waited_for_others']} | "
          f"{applies} | {storm['all_applied_s']:.1f} s | {storm['daemon_cpu_s']:.2f} | "
          f"{storm['check']} |")
else:
    print("| storm | 0 late, 0 waiting | no measurement (see above) | **not met** |")
PY
