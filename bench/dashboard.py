#!/usr/bin/python3
"""What the dashboard costs and how fast it follows (R3 7/7), on a real
daemon with real headless Chromium tabs:

    bench/dashboard.py [--agents 200] [--subs 20] [--tabs 3] [--idle 60] [--reports 10]

1. Page weight: the bytes of /, /dashboard.js, /dashboard.css.
2. Idle cost: the daemon's CPU over --idle seconds at rest with no page
   open, then with --tabs signed-in tabs open (each reads status,
   subscriptions, agents and notifications every 5 s, the timeline every
   30 s, and holds the live stream), read from /proc.
3. Latency: --reports reports sent over HTTP one at a time, each to an
   agent on another subscription (fewer than --subs, so that each one
   switches); for each, the time until the tab's feed shows it and until the
   agent's row shows its new subscription (median and worst).
4. Drawing: the tab's own time to draw the agents' table (--agents rows),
   from the page's performance timeline.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'web'))
import dashboard_test as dt  # noqa: E402  (the test's Daemon and browser setup)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def rss_mb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0


def idle_cpu(pid, seconds):
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # a measurement window, not a synchronisation
    return (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100


def open_tab(d):
    opts = Options()
    opts.binary_location = '/usr/bin/chromium'
    for a in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']:
        opts.add_argument(a)
    b = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    b.get(d.url + '/')
    field = b.find_element(By.ID, 'token')
    field.send_keys(d.admin)
    field.send_keys(Keys.ENTER)
    dt.wait_until(lambda: b.execute_script('return document.getElementById("live").textContent') == 'live',
                  30, 'the live stream')
    return b


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--bin', default=os.path.join(os.path.dirname(__file__), '..', 'build', 'bin'))
    p.add_argument('--agents', type=int, default=200)
    p.add_argument('--subs', type=int, default=20)
    p.add_argument('--tabs', type=int, default=3)
    p.add_argument('--idle', type=int, default=60)
    p.add_argument('--reports', type=int, default=10)
    a = p.parse_args()

    d = dt.Daemon(a.bin)
    tabs = []
    try:
        for i in range(a.subs):
            d.ok('POST', '/v1/subscriptions', {'name': 's%02d' % i, 'token': dt.token_for('s%d' % i)})
        for i in range(a.agents):
            d.ok('POST', '/v1/agents', {'name': 'agent-%03d' % i, 'subscription': 's%02d' % (i % a.subs)})
        weight = {path: len(d.call('GET', path, token=False)[1].encode())
                  for path in ['/', '/dashboard.js', '/dashboard.css']}
        print('page weight: %s, %d bytes in all' % (weight, sum(weight.values())))
        pid = d.proc.pid
        print('idle, no page open: %.3f %% of a core over %d s, RSS %.1f MB'
              % (idle_cpu(pid, a.idle), a.idle, rss_mb(pid)))
        tabs = [open_tab(d) for _ in range(a.tabs)]
        print('idle, %d tabs open: %.3f %% of a core over %d s, RSS %.1f MB'
              % (a.tabs, idle_cpu(pid, a.idle), a.idle, rss_mb(pid)))
        b = tabs[0]
        feed_s, row_s = [], []
        for i in range(a.reports):
            agent = 'agent-%03d' % i
            before = d.ok('GET', '/v1/agents/' + agent)
            sent = time.monotonic()
            answer = d.ok('POST', '/v1/reports', {'agent': agent, 'status': 429, 'kind': 'rate_limit',
                                                  'subscription': before['subscription'],
                                                  'generation': before['generation']})
            if answer['outcome'] != 'switched':
                sys.exit('report %d was %s: use fewer --reports than --subs' % (i, answer['outcome']))
            dt.wait_until(lambda: b.execute_script(
                'return [...document.querySelectorAll("#feed li")].some(l => l.innerText.includes(arguments[0] + ": HTTP 429"))',
                agent), 10, 'the report in the feed')
            feed_s.append(time.monotonic() - sent)
            dt.wait_until(lambda: b.execute_script(
                'for (const tr of document.querySelectorAll("#agents tbody tr"))'
                '  if (tr.cells[0].querySelector("button").textContent === arguments[0])'
                '    return tr.cells[1].innerText.trim() !== arguments[1];'
                'return false;', agent, before['subscription']), 10, 'the row')
            row_s.append(time.monotonic() - sent)
        print('report -> feed: median %.3f s, worst %.3f s; report -> row: median %.3f s, worst %.3f s (%d reports)'
              % (statistics.median(feed_s), max(feed_s), statistics.median(row_s), max(row_s), a.reports))
        draw = b.execute_script(
            'const t = performance.now();'
            'document.getElementById("agent-sort").value = "subscription";'
            'document.getElementById("agent-sort").dispatchEvent(new Event("change"));'
            'return performance.now() - t;')
        print('drawing %d agent rows (a sort): %.1f ms' % (a.agents, draw))
    finally:
        for t in tabs:
            t.quit()
        d.stop()


if __name__ == '__main__':
    main()
