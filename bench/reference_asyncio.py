#!/usr/bin/env python3
"""The design Switchboard replaces, as a benchmark reference (standard library only).

It follows the seed system's auto-switch (notes/seed-system-sub003.md, sections 1-2):
a report is handled inside an HTTP request handler; the agent's subscription is
snapshotted at entry; the failure event is inserted and committed on its own; under a
per-agent asyncio.Lock the current subscription is read again (stale guard), the best
alternative is selected on a worker thread by a query that counts the agents of every
subscription and then checks each candidate's recent events one query at a time, and
the switch (assignment, activity row, notification) is committed. The schema carries the
obvious index on the agents' subscription.

Same workload and output as switchboard-bench's burst mode: it starts the server as a
separate process on a temporary database and a free loopback port, registers S
subscriptions and A agents (agent i on subscription i mod S), sends B concurrent 429
reports for every agent at once, waits for every reply and checks the result.

    python3 bench/reference_asyncio.py --agents 1000 --subscriptions 2000 --burst 8 --json
"""

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

SCHEMA = """
CREATE TABLE subscription_credentials (
  id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,
  encrypted_credentials TEXT NOT NULL, created_at TEXT, updated_at TEXT);
CREATE TABLE agent_ownership (
  agent_name TEXT UNIQUE NOT NULL, subscription_id TEXT, deleted_at TEXT);
CREATE INDEX idx_agent_ownership_subscription ON agent_ownership(subscription_id);
CREATE TABLE subscription_rate_limit_events (
  id TEXT PRIMARY KEY, agent_name TEXT NOT NULL, subscription_id TEXT NOT NULL,
  error_message TEXT, failure_kind TEXT, occurred_at TEXT NOT NULL);
CREATE INDEX idx_rl_events_agent ON subscription_rate_limit_events(
  agent_name, subscription_id, occurred_at DESC);
CREATE INDEX idx_rl_events_sub ON subscription_rate_limit_events(
  subscription_id, occurred_at DESC);
CREATE TABLE agent_notifications (
  id TEXT PRIMARY KEY, agent_name TEXT, notification_type TEXT, title TEXT,
  message TEXT, priority TEXT, category TEXT, metadata TEXT,
  status TEXT DEFAULT 'pending', created_at TEXT);
CREATE TABLE agent_activities (
  id TEXT PRIMARY KEY, agent_name TEXT, activity_type TEXT, activity_state TEXT,
  triggered_by TEXT, details TEXT, started_at TEXT, completed_at TEXT);
CREATE TABLE system_settings (key TEXT PRIMARY KEY, value TEXT);
"""


def iso_now():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_cutoff(hours):
    t = datetime.now(timezone.utc) - timedelta(hours=hours)
    return t.isoformat().replace("+00:00", "Z")


# -- the server: the seed's request handler ---------------------------------------


class Server:
    def __init__(self, db_path):
        self.db_path = db_path
        self.db = sqlite3.connect(db_path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.locks = {}
        self.local = threading.local()

    def thread_db(self):
        # The selection runs on a worker thread with its own connection.
        if not hasattr(self.local, "db"):
            self.local.db = sqlite3.connect(self.db_path, isolation_level=None)
        return self.local.db

    def lock_for(self, agent):
        lock = self.locks.get(agent)
        if lock is None:
            lock = self.locks.setdefault(agent, asyncio.Lock())
        return lock

    def record_event(self, agent, sub, kind, message):
        db = self.db
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO subscription_rate_limit_events VALUES (?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), agent, sub, message, kind, iso_now()))
        count = db.execute(
            "SELECT COUNT(*) FROM subscription_rate_limit_events "
            "WHERE agent_name = ? AND subscription_id = ? AND occurred_at > ?",
            (agent, sub, iso_cutoff(2))).fetchone()[0]
        db.execute("COMMIT")
        return count

    def select_best_alternative(self, current):
        db = self.thread_db()
        rows = db.execute(
            "SELECT s.id, s.name, (SELECT COUNT(*) FROM agent_ownership a "
            "WHERE a.subscription_id = s.id AND a.deleted_at IS NULL) AS agent_count "
            "FROM subscription_credentials s WHERE s.id <> ? "
            "ORDER BY agent_count ASC, s.name ASC", (current,)).fetchall()
        cutoff = iso_cutoff(2)
        for sid, name, _ in rows:  # N+1: one query per candidate
            recent = db.execute(
                "SELECT 1 FROM subscription_rate_limit_events "
                "WHERE subscription_id = ? AND occurred_at > ? LIMIT 1",
                (sid, cutoff)).fetchone()
            if recent is None:
                return sid, name
        return None

    def perform_switch(self, agent, old_name, new_id, new_name, kind, count):
        db = self.db
        now = iso_now()
        db.execute("BEGIN")
        db.execute("UPDATE agent_ownership SET subscription_id = ? WHERE agent_name = ?",
                   (new_id, agent))
        db.execute(
            "INSERT INTO agent_activities VALUES (?, ?, 'schedule_end', 'completed', "
            "'system', ?, ?, ?)",
            (str(uuid.uuid4()), agent,
             json.dumps({"action": "subscription_auto_switch", "old": old_name,
                         "new": new_name, "failure_kind": kind}), now, now))
        db.execute(
            "INSERT INTO agent_notifications VALUES (?, ?, 'alert', ?, ?, 'high', "
            "'subscription', ?, 'pending', ?)",
            (str(uuid.uuid4()), agent, f"Subscription auto-switched to '{new_name}'",
             f"Agent '{agent}' was automatically switched from subscription "
             f"'{old_name}' to '{new_name}'.",
             json.dumps({"failure_kind": kind, "event_count": count}), now))
        db.execute("COMMIT")

    async def handle_failure(self, agent, error, kind, named=None):
        row = self.db.execute(
            "SELECT subscription_id FROM agent_ownership WHERE agent_name = ? "
            "AND deleted_at IS NULL", (agent,)).fetchone()
        if row is None or row[0] is None:
            return {"outcome": "no_subscription", "agent": agent}
        sub_at_entry = row[0]
        if named:
            # Like switchboard-bench, the report names the subscription the
            # failed request ran on; that is the snapshot the stale guard uses.
            sub = self.db.execute(
                "SELECT id FROM subscription_credentials WHERE name = ?",
                (named,)).fetchone()
            if sub is not None:
                sub_at_entry = sub[0]
        count = self.record_event(agent, sub_at_entry, kind, error)
        setting = self.db.execute(
            "SELECT value FROM system_settings WHERE key = 'auto_switch_subscriptions'"
        ).fetchone()
        if setting is not None and setting[0] != "true":
            return {"outcome": "disabled", "agent": agent}
        async with self.lock_for(agent):
            current = self.db.execute(
                "SELECT subscription_id FROM agent_ownership WHERE agent_name = ?",
                (agent,)).fetchone()[0]
            if current != sub_at_entry:
                return {"outcome": "stale", "agent": agent}
            pick = await asyncio.to_thread(self.select_best_alternative, current)
            if pick is None:
                return {"outcome": "no_alternative", "agent": agent}
            old_name = self.db.execute(
                "SELECT name FROM subscription_credentials WHERE id = ?",
                (current,)).fetchone()[0]
            self.perform_switch(agent, old_name, pick[0], pick[1], kind, count)
            return {"outcome": "switched", "agent": agent, "from": old_name,
                    "to": pick[1]}

    async def handle_connection(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                body = json.loads(await reader.readexactly(length)) if length else {}
                status = body.get("status", 0)
                kind = "rate_limit" if status == 429 else "auth"
                result = await self.handle_failure(body["agent"], body.get("error", ""),
                                                   kind, body.get("subscription"))
                payload = json.dumps(result).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(payload)).encode()
                             + b"\r\n\r\n" + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()


def serve(port, db_path):
    server = Server(db_path)

    async def main():
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", port,
                                         backlog=4096)
        print("listening", flush=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# -- the client: the burst ----------------------------------------------------------


async def burst(port, reports, connections):
    pool = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies, outcomes, errors = [], {}, 0

    async def one(report):
        nonlocal errors
        sent = time.perf_counter()
        reader, writer = await pool.get()
        try:
            body = json.dumps(report).encode()
            writer.write(b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
            await reader.readline()
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b""):
                    break
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            result = json.loads(await reader.readexactly(length))
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
        except Exception:  # noqa: BLE001 - counted, reported
            errors += 1
        finally:
            pool.put_nowait((reader, writer))
        latencies.append((time.perf_counter() - sent) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(r) for r in reports))
    wall = time.perf_counter() - started
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return latencies, outcomes, errors, wall


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))] if xs else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--subscriptions", type=int, default=2000)
    ap.add_argument("--burst", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64,
                    help="client connections (keep-alive) the reports share")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    with tempfile.TemporaryDirectory(prefix="reference-bench-") as tmp:
        db_path = os.path.join(tmp, "reference.db")
        db = sqlite3.connect(db_path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        now = iso_now()
        sub_ids = [str(uuid.uuid4()) for _ in range(args.subscriptions)]
        db.execute("BEGIN")
        db.executemany("INSERT INTO subscription_credentials VALUES (?, ?, ?, ?, ?)",
                       [(sub_ids[i], f"sub-{i}", f"enc-token-{i}", now, now)
                        for i in range(args.subscriptions)])
        db.executemany("INSERT INTO agent_ownership VALUES (?, ?, NULL)",
                       [(f"agent-{i}", sub_ids[i % args.subscriptions])
                        for i in range(args.agents)])
        db.execute("COMMIT")
        db.close()
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                                   db_path], stdout=subprocess.PIPE, text=True)
        try:
            if server.stdout.readline().strip() != "listening":
                print("reference server did not start", file=sys.stderr)
                return 2
            reports = [{"agent": f"agent-{i}", "status": 429,
                        "error": "rate limit reached",
                        "subscription": f"sub-{i % args.subscriptions}"}
                       for _ in range(args.burst) for i in range(args.agents)]
            latencies, outcomes, errors, wall = asyncio.run(
                burst(port, reports, args.connections))
            rss = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait()
        db = sqlite3.connect(db_path)
        switches = db.execute("SELECT COUNT(*) FROM agent_activities").fetchone()[0]
        notes = db.execute("SELECT COUNT(*) FROM agent_notifications").fetchone()[0]
        events = db.execute(
            "SELECT COUNT(*) FROM subscription_rate_limit_events").fetchone()[0]
        db.close()
    total = args.agents * args.burst
    ok = (errors == 0 and events == total and notes == switches
          and (args.subscriptions < 2 * args.agents or switches == args.agents))
    result = {
        "mode": "reference", "agents": args.agents,
        "subscriptions": args.subscriptions, "burst": args.burst, "reports": total,
        "switches": switches, "notifications": notes, "events": events,
        "errors": errors, "outcomes": outcomes, "wall_s": wall,
        "reports_per_s": total / wall, "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99), "max_ms": percentile(latencies, 1.0),
        "daemon_rss_mb": rss, "check": "passed" if ok else "FAILED",
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"reference (asyncio + sqlite3): {args.agents} agents, "
              f"{args.subscriptions} subscriptions, {args.burst} reports per agent")
        print(f"  reports        {total} in {wall:.3f} s = {total / wall:.0f} reports/s")
        print(f"  latency        p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms")
        print(f"  switches       {switches}, notifications {notes}, events {events}")
        print(f"  server RSS     {rss:.1f} MB")
        print(f"  check          {result['check']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
