#!/bin/bash
# Notification sinks (R3 6/7), measured on a real daemon and a real HTTP
# receiver (a threaded Python server that answers 204 and counts):
#
#   bench/sinks.sh                    # STORM=500 switches, SINKS=20, IDLE_S=60
#   STORM=2000 bench/sinks.sh
#
# 1. Delivery: STORM agents on one subscription each report a 429 (one CLI
#    call each: STORM switches, STORM notifications); a webhook sink with
#    --no-digest and a Slack-format sink with digests take them. Printed:
#    the seconds from the last switch to the last webhook delivery, the
#    webhook deliveries (one per switch expected) and the Slack messages
#    (digests).
# 2. Idle cost: the daemon's CPU over IDLE_S seconds at rest with no sink,
#    then with SINKS sinks (the DELIVERER takes each sink's due
#    notifications every notify-interval, 1 s), read from /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
STORM=${STORM:-500}
SINKS=${SINKS:-20}
IDLE_S=${IDLE_S:-60}
bin=build/bin
if [[ ! -x $bin/switchboardd || ! -x $bin/switchboard ]]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# -- the receiver
rport=$(free_port)
python3 - "$rport" "$dir/counts" <<'PY' &
import http.server, json, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
counts, lock = {}, threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            with open(path + ".tmp", "w") as f:
                json.dump(counts, f)
            import os; os.replace(path + ".tmp", path)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)

# -- the daemon
start_daemon() {
  port=$(free_port)
  $bin/switchboardd --switchboard.port="$port" --switchboard.http-port=0 \
    --switchboard.db-path="$dir/state.db" \
    --switchboard.admin-token-file="$dir/auth/admin.token" \
    --switchboard.report-token-file="$dir/auth/report.token" \
    --switchboard.log-level=warn 2> "$dir/daemon.log" &
  daemon=$!
  pids+=("$daemon")
  for _ in $(seq 1 200); do
    $bin/switchboard --port "$port" --auth-file "$dir/auth/admin.token" ping \
      > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the daemon did not start" >&2
  cat "$dir/daemon.log" >&2
  exit 1
}
sb() { $bin/switchboard --port "$port" --auth-file "$dir/auth/admin.token" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
idle_percent() {
  local t0 t1
  t0=$(cpu_ticks)
  sleep "$IDLE_S"
  t1=$(cpu_ticks)
  python3 -c "print(f'{100 * ($t1 - $t0) / $(getconf CLK_TCK) / $IDLE_S:.3f}')"
}
count() {
  python3 -c "import json,sys; print(json.load(open('$dir/counts')).get('$1', 0))" 2>/dev/null || echo 0
}

start_daemon
echo "idle, no sink: ${IDLE_S} s" >&2
idle_none=$(idle_percent)

printf '%s\n' "http://127.0.0.1:$rport/machines" > "$dir/machines.url"
printf '%s\n' "http://127.0.0.1:$rport/people" > "$dir/people.url"
printf '%s\n' "bench-secret" > "$dir/secret"
sb notify add machines --kind webhook --url-file "$dir/machines.url" \
  --secret-file "$dir/secret" --no-digest > /dev/null
sb notify add people --kind slack --url-file "$dir/people.url" > /dev/null
printf '%s\n' sk-bench-a | sb subscription add sub-a --token-file - > /dev/null
printf '%s\n' sk-bench-b | sb subscription add sub-b --token-file - > /dev/null
echo "storm: $STORM agents" >&2
for i in $(seq 1 "$STORM"); do
  sb agent add "a$i" --subscription sub-a > /dev/null
done
for i in $(seq 1 "$STORM"); do
  sb report "a$i" --status 429 > /dev/null
done
last_switch=$(date +%s.%N)
deadline=$(($(date +%s) + 600))
while (($(count /machines) < STORM)) && (($(date +%s) < deadline)); do
  sleep 0.05
done
delivered_at=$(date +%s.%N)
# The Slack sink's digest waits until the storm has been quiet for
# digest-wait (5 s).
sleep 8
machines=$(count /machines)
people=$(count /people)
seconds=$(python3 -c "print(f'{$delivered_at - $last_switch:.2f}')")

for i in $(seq 1 "$SINKS"); do
  printf '%s\n' "http://127.0.0.1:$rport/idle$i" > "$dir/idle.url"
  sb notify add "idle$i" --kind webhook --url-file "$dir/idle.url" > /dev/null
done
echo "idle, $((SINKS + 2)) sinks: ${IDLE_S} s" >&2
idle_sinks=$(idle_percent)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")

cat <<EOF
Sinks: $STORM switches (one CLI report each) to a webhook (--no-digest) and a Slack-format sink; receiver: Python ThreadingHTTPServer answering 204; $(nproc) cores

| measure | value |
|---|---|
| webhook deliveries / switches | $machines / $STORM |
| Slack messages for the storm (digests) | $people |
| last switch to last webhook delivery | $seconds s |
| idle daemon CPU, no sink, over $IDLE_S s | $idle_none % of a core |
| idle daemon CPU, $((SINKS + 2)) sinks, over $IDLE_S s | $idle_sinks % of a core |
| daemon RSS after the storm, $((SINKS + 2)) sinks, $STORM agents | $((rss / 1024)) MB |
EOF
