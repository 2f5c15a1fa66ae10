#!/bin/bash
# Reproduces bench/RESULTS.md: builds what is missing, then runs the burst
# benchmark (switchboard and the asyncio reference, side by side, in the same
# run) and the fleet-scale benchmark, and prints a Markdown table.
#
#   bench/run.sh                      # A=1000 S=2000 B=8, 7 runs of each
#   RUNS=3 AGENTS=100 SUBS=200 bench/run.sh
#
# `bench/run.sh doors` measures the daemon's two doors against each other and
# against the wire instead (bench/doors.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "doors" ]]; then
  shift
  exec bench/doors.sh "$@"
fi
RUNS=${RUNS:-7}
REF_RUNS=${REF_RUNS:-3}
AGENTS=${AGENTS:-1000}
SUBS=${SUBS:-2000}
BURST=${BURST:-8}
SCALE_AGENTS=${SCALE_AGENTS:-100000}
SCALE_SUBS=${SCALE_SUBS:-1000}
if [[ ! -x build/bin/switchboard-bench || ! -x build/bin/switchboardd ]]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$RUNS"); do
  build/bin/switchboard-bench --json --agents "$AGENTS" \
    --subscriptions "$SUBS" --burst "$BURST" >> "$out/switchboard.jsonl"
done
for i in $(seq 1 "$REF_RUNS"); do
  python3 bench/reference_asyncio.py --json --agents "$AGENTS" \
    --subscriptions "$SUBS" --burst "$BURST" >> "$out/reference.jsonl"
done
build/bin/switchboard-bench --json --scale --agents "$SCALE_AGENTS" \
  --subscriptions "$SCALE_SUBS" > "$out/scale.json"
python3 - "$out" <<'EOF'
import json, statistics, sys, os
out = sys.argv[1]
def load(name):
    with open(os.path.join(out, name)) as f:
        return [json.loads(l) for l in f if l.strip()]
sb, ref = load("switchboard.jsonl"), load("reference.jsonl")
scale = load("scale.json")[0]
def med(rs, k): return statistics.median(r[k] for r in rs)
def rng(rs, k): return f"{min(r[k] for r in rs):.0f}–{max(r[k] for r in rs):.0f}"
a = sb[0]
print(f"Burst: {a['agents']} agents, {a['subscriptions']} subscriptions, "
      f"{a['burst']} reports each ({a['reports']} reports sent at once); "
      f"median of {len(sb)} runs (switchboard) and {len(ref)} (reference)\n")
print("| | reports/s (median, range) | p50 ms | p99 ms | switches | notifications | events | server RSS MB | check |")
print("|---|---|---|---|---|---|---|---|---|")
for name, rs in (("switchboard", sb), ("reference (asyncio)", ref)):
    print(f"| {name} | {med(rs,'reports_per_s'):.0f} ({rng(rs,'reports_per_s')}) | "
          f"{med(rs,'p50_ms'):.0f} | {med(rs,'p99_ms'):.0f} | {rs[0]['switches']} | "
          f"{rs[0]['notifications']} | {rs[0]['events']} | {med(rs,'daemon_rss_mb'):.0f} | "
          f"{', '.join(sorted(set(r['check'] for r in rs)))} |")
ratio = med(sb, 'reports_per_s') / med(ref, 'reports_per_s')
print(f"\nswitchboard / reference throughput: {ratio:.1f}x")
print(f"switchboard daemon CPU per burst (median): {med(sb,'daemon_cpu_s'):.3f} s, "
      f"benchmark client: {med(sb,'bench_cpu_s'):.3f} s")
print(f"\nScale: {scale['agents']} agents, {scale['subscriptions']} subscriptions\n")
print("| boot to listening | every agent answering | RSS MB | status p50 / p99 ms | agent show p50 / p99 ms | check |")
print("|---|---|---|---|---|---|")
print(f"| {scale['boot_s']:.3f} s | {scale['ready_s']:.3f} s | {scale['daemon_rss_mb']:.0f} | "
      f"{scale['status_p50_ms']:.2f} / {scale['status_p99_ms']:.2f} | "
      f"{scale['agent_show_p50_ms']:.2f} / {scale['agent_show_p99_ms']:.2f} | {scale['check']} |")
EOF
