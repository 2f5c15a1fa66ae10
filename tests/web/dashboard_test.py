#!/usr/bin/python3
"""The dashboard in a real browser: Debian's headless Chromium, driven by
python3-selenium, against a real switchboardd (SQLite file, loopback, a
Docker socket where no engine answers) seeded over its HTTP API.

    dashboard_test.py --bin BUILD/bin --out DIR [unittest arguments]

Screenshots at 1280x800 and at a phone's width go to DIR.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ARGS = None
HOSTILE = '<img src=x onerror=alert(1)>'
# The browser runs in a zone far from UTC: times must be shown in it.
BROWSER_TZ = 'Asia/Kolkata'  # UTC+05:30, no daylight saving


def wait_until(predicate, timeout, what):
    """Polls predicate until it is true; fails naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        time.sleep(0.05)


class Daemon:
    """A real switchboardd in a temporary folder, with its HTTP front."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.dir = tempfile.TemporaryDirectory(prefix='sb-web-')
        self.log_path = os.path.join(self.dir.name, 'daemon.log')
        self.log = open(self.log_path, 'wb')
        self.port = 0
        self.start()
        with open(os.path.join(self.dir.name, 'auth', 'admin.token')) as f:
            self.admin = f.read().strip()
        with open(os.path.join(self.dir.name, 'auth', 'report.token')) as f:
            self.report = f.read().strip()

    def start(self):
        """Starts the daemon on its database; the HTTP front on the port it
        had before (any free one the first time)."""
        root = self.dir.name
        seen = len(self.read_log())
        self.proc = subprocess.Popen(
            [os.path.join(self.bin_dir, 'switchboardd'),
             '--switchboard.port=0', '--switchboard.http-port=%d' % self.port,
             '--switchboard.db-path=' + os.path.join(root, 'db', 'switchboard.db'),
             '--switchboard.admin-token-file=' + os.path.join(root, 'auth', 'admin.token'),
             '--switchboard.report-token-file=' + os.path.join(root, 'auth', 'report.token'),
             '--switchboard.docker-socket=' + os.path.join(root, 'no-engine.sock'),
             '--switchboard.log-level=debug'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        found = wait_until(lambda: re.search(rb'http: listening on \S+:(\d+)', self.read_log()[seen:]),
                           30, 'the HTTP front to listen')
        self.port = int(found.group(1))
        self.url = 'http://127.0.0.1:%d' % self.port

    def halt(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def read_log(self):
        with open(self.log_path, 'rb') as f:
            return f.read()

    def call(self, method, path, body=None, token=None, headers=False):
        """One request; (status, parsed JSON or text[, headers])."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not False:
            req.add_header('Authorization', 'Bearer ' + (token or self.admin))
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = raw.decode(errors='replace')
        return (status, doc, hdrs) if headers else (status, doc)

    def ok(self, method, path, body=None):
        status, doc = self.call(method, path, body)
        if status != 200:
            raise AssertionError('%s %s: %d %s' % (method, path, status, doc))
        return doc

    def stop(self):
        self.halt()
        self.log.close()
        self.dir.cleanup()


def token_for(name):
    return 'sk-ant-oat01-dashboard-' + re.sub('[^a-z0-9]', 'x', name.lower()) + '-' + 'z' * 24


def seed(d):
    """Two pools: main (a1, a2 and a subscription with a hostile name) and
    solo (one subscription); agents on each, one with a container the
    (absent) engine cannot reach."""
    for name, pool in [('a1', 'main'), ('a2', 'main'), (HOSTILE, 'main'), ('solo1', 'solo')]:
        d.ok('POST', '/v1/subscriptions', {'name': name, 'token': token_for(name), 'pool': pool})
    for name, pool, sub, container in [('bot-1', 'main', 'a1', None), ('mover', 'main', 'a1', None),
                                       ('solo-bot', 'solo', 'solo1', None),
                                       (HOSTILE, 'main', 'a2', 'c-hostile')]:
        spec = {'name': name, 'pool': pool}
        if container:
            spec['container'] = container
        d.ok('POST', '/v1/agents', spec)
        d.call('POST', '/v1/agents/%s/assign' % urllib.request.quote(name, safe=''),
               {'subscription': sub})
    reset = int((datetime.now(timezone.utc) + timedelta(hours=2)).timestamp())
    d.ok('POST', '/v1/observations', {
        'agent': 'bot-1', 'subscription': 'a1',
        'headers': {'anthropic-ratelimit-unified-5h-utilization': '0.62',
                    'anthropic-ratelimit-unified-5h-reset': str(reset),
                    'anthropic-ratelimit-unified-7d-utilization': '0.91',
                    'anthropic-ratelimit-unified-7d-reset': str(reset + 300000),
                    'anthropic-ratelimit-unified-status': 'allowed'}})


class DashboardTest(unittest.TestCase):
    """Each test has its own daemon, seeded alike, and its own browser."""

    def setUp(self):
        self.d = Daemon(ARGS.bin)
        self.addCleanup(self.d.stop)
        seed(self.d)
        opts = Options()
        opts.binary_location = '/usr/bin/chromium'
        for a in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                  '--disable-extensions', '--lang=en-US']:
            opts.add_argument(a)
        opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        env = dict(os.environ, TZ=BROWSER_TZ)
        self.browser = webdriver.Chrome(service=Service('/usr/bin/chromedriver', env=env),
                                        options=opts)
        self.console = []

    def tearDown(self):
        self.console += self.browser.get_log('browser')
        self.browser.quit()

    # -- helpers ----------------------------------------------------------

    def open_page(self):
        self.browser.get(self.d.url + '/')
        self.viewport(1280, 800)
        wait_until(lambda: self.browser.execute_script('return document.readyState') == 'complete',
                   10, 'the page to load')

    def sign_in(self, token=None):
        self.open_page()
        field = self.browser.find_element(By.ID, 'token')
        field.send_keys(token or self.d.admin)
        field.send_keys(Keys.ENTER)
        wait_until(lambda: self.shown('dash'), 10,
                   'the dashboard after signing in')
        wait_until(lambda: self.text('live') == 'live', 10, 'the live stream')

    def text(self, element_id):
        return self.browser.execute_script(
            'const e = document.getElementById(arguments[0]); return e ? e.innerText : null',
            element_id)

    # The page redraws what changed: the helpers read it in one script, so
    # that no element goes stale between finding and reading it.

    def row(self, agent):
        """The agents table's row of one agent, as a list of cell texts."""
        return self.browser.execute_script(
            'for (const tr of document.querySelectorAll("#agents tbody tr")) {'
            '  const b = tr.querySelector("td button");'
            '  if (b && b.textContent === arguments[0])'
            '    return [...tr.cells].map(c => c.innerText.trim());'
            '} return null;', agent)

    def card(self, name):
        """The text of one subscription's card."""
        return self.browser.execute_script(
            'for (const c of document.querySelectorAll("#pools article"))'
            '  if (c.querySelector(".name").textContent === arguments[0]) return c.innerText;'
            'return null;', name)

    def texts(self, css):
        return self.browser.execute_script(
            'return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)', css)

    def banners(self):
        return self.texts('#banners .banner')

    def feed(self):
        return self.texts('#feed li')

    def click(self, css):
        """Clicks the element matching css, found afresh if it was redrawn."""
        def attempt():
            try:
                self.browser.find_element(By.CSS_SELECTOR, css).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        wait_until(attempt, 5, 'to click ' + css)

    def shown(self, element_id):
        return self.browser.execute_script(
            'const e = document.getElementById(arguments[0]);'
            'return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"',
            element_id)

    def errors(self, allowed=()):
        logs = self.console + self.browser.get_log('browser')
        self.console = []
        return [e for e in logs if e['level'] == 'SEVERE'
                and not any(a in e['message'] for a in allowed)]

    def fetch_status(self, path, token=None):
        """What the page's own fetch() gets for a path (without a
        credential unless given)."""
        return self.browser.execute_async_script(
            'const done = arguments[arguments.length - 1];'
            'const h = arguments[1] ? {Authorization: "Bearer " + arguments[1]} : {};'
            'fetch(arguments[0], {headers: h}).then(r => done(r.status), e => done(String(e)));',
            path, token)

    def viewport(self, width, height, mobile=False):
        """Makes the page's own area exactly width x height CSS pixels (a
        window cannot be narrower than 500 px; the emulation can)."""
        self.browser.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
            'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': mobile})

    def screenshot(self, name, width, height):
        self.viewport(width, height, mobile=width < 700)
        os.makedirs(ARGS.out, exist_ok=True)
        path = os.path.join(ARGS.out, name)
        self.browser.save_screenshot(path)
        return path

    def full_screenshot(self, name, width):
        """The whole page at this width (docs/images/ takes one of these)."""
        self.viewport(width, 800, mobile=width < 700)
        height = self.browser.execute_script('return document.documentElement.scrollHeight')
        return self.screenshot(name, width, min(height, 4000))

    # -- the tests --------------------------------------------------------

    def test_without_the_credential_the_page_asks_and_v1_stays_closed(self):
        self.open_page()
        self.assertTrue(self.shown('login'))
        self.assertFalse(self.shown('dash'))
        self.assertEqual(self.texts('#agents tbody tr'), [])
        for path in ['/v1/agents', '/v1/subscriptions', '/v1/status', '/v1/watch']:
            self.assertEqual(self.fetch_status(path), 401, path)
            self.assertEqual(self.fetch_status(path, 'not-the-credential'), 401, path)
        # A wrong credential: a clear message, still the form, nothing kept.
        field = self.browser.find_element(By.ID, 'token')
        field.send_keys('sk-wrong-credential')
        field.send_keys(Keys.ENTER)
        wait_until(lambda: 'neither the admin nor the report' in self.text('login-error'), 10,
                   'the refusal')
        self.assertFalse(self.shown('dash'))
        self.assertIsNone(self.browser.execute_script(
            'return sessionStorage.getItem("switchboard.credential")'))
        self.screenshot('login-1280.png', 1280, 800)
        # The right one opens the page; a reload keeps it (this tab's
        # session); signing out forgets it.
        field = self.browser.find_element(By.ID, 'token')
        field.send_keys(self.d.admin)
        field.send_keys(Keys.ENTER)
        wait_until(lambda: self.shown('dash'), 10, 'the dashboard')
        self.browser.refresh()
        wait_until(lambda: self.row('bot-1') is not None, 10, 'the agents after a reload')
        self.browser.find_element(By.ID, 'signout').click()
        wait_until(lambda: self.shown('login'), 10, 'the form again')
        self.assertIsNone(self.browser.execute_script(
            'return sessionStorage.getItem("switchboard.credential")'))
        self.assertNotIn(self.d.admin, self.browser.page_source)
        # Only the deliberate wrong credential's 401s may be in the console.
        self.assertEqual(self.errors(allowed=['401']), [])

    def test_seeded_subscriptions_and_agents_appear_with_their_states(self):
        self.sign_in()
        wait_until(lambda: self.card('solo1') and self.row('solo-bot'), 10, 'the seeded state')
        for name in ['a1', 'a2', 'solo1']:
            card = self.card(name)
            self.assertIsNotNone(card, name)
            self.assertIn('active', card)
            self.assertIn('anthropic', card)
        a1 = self.card('a1')
        self.assertIn('62 %', a1)
        self.assertIn('91 %', a1)
        self.assertRegex(a1, r'resets in (1h|2h)')
        self.assertIn('bot-1', a1)
        fingerprint = self.d.ok('GET', '/v1/subscriptions/a1')['fingerprint']
        self.assertIn(fingerprint, a1)
        self.assertNotIn(token_for('a1'), self.browser.page_source)
        bot = self.row('bot-1')
        self.assertEqual(bot[1], 'a1')
        self.assertIn('applied', bot[2])
        self.assertEqual(self.row('solo-bot')[1], 'solo1')
        hostile = self.row(HOSTILE)
        self.assertIn('behind', hostile[2])
        # The container's agent cannot get its token: two banners say so.
        wait_until(lambda: any('Docker engine does not answer' in b for b in self.banners()), 10,
                   'the engine banner')
        self.assertTrue(any('1 agent is behind' in b for b in self.banners()), self.banners())
        # Filter and sort.
        self.browser.find_element(By.ID, 'agent-filter').send_keys('solo')
        wait_until(lambda: len(self.texts('#agents tbody tr')) == 1,
                   5, 'the filter')
        self.browser.find_element(By.ID, 'agent-filter').clear()
        self.browser.find_element(By.ID, 'agent-filter').send_keys(Keys.BACKSPACE)
        Select(self.browser.find_element(By.ID, 'agent-sort')).select_by_value('behind')
        first = self.texts('#agents tbody tr td button')[0]
        self.assertEqual(first, HOSTILE)
        # Times: in the browser's zone (UTC+05:30), UTC on hover.
        at, shown, hover = self.browser.execute_script(
            'const t = document.querySelector("#agents time");'
            'return [t.getAttribute("datetime"), t.textContent, t.title]')
        utc = datetime.fromisoformat(at.replace('Z', '+00:00'))
        local = utc + timedelta(hours=5, minutes=30)
        self.assertIn(local.strftime('%I:%M').lstrip('0'), shown)
        self.assertNotIn(utc.strftime('%I:%M').lstrip('0'), shown)
        self.assertTrue(hover.endswith(' UTC'), hover)
        self.assertIn(utc.strftime('%H:%M:%S'), hover)
        self.assertEqual(self.errors(), [])

    def test_a_report_reaches_the_feed_within_2_s_and_the_row_changes(self):
        self.sign_in()
        wait_until(lambda: self.row('bot-1'), 10, 'bot-1')
        self.assertEqual(self.row('bot-1')[1], 'a1')
        generation = self.d.ok('GET', '/v1/agents/bot-1')['generation']
        sent = time.monotonic()
        self.d.ok('POST', '/v1/reports', {'agent': 'bot-1', 'status': 429, 'kind': 'rate_limit',
                                          'subscription': 'a1', 'generation': generation,
                                          'retry_after': 900})
        wait_until(lambda: any('bot-1' in x and 'HTTP 429' in x for x in self.feed()), 2,
                   'the report in the live feed')
        wait_until(lambda: any('bot-1: a1' in x and 'switch' in x for x in self.feed()), 2,
                   'the switch in the live feed')
        wait_until(lambda: self.row('bot-1')[1] != 'a1', 2, 'the agent row to change')
        print('report to feed and row: %.2f s' % (time.monotonic() - sent), file=sys.stderr)
        moved_to = self.row('bot-1')[1]
        self.assertIn(moved_to, ['a2', HOSTILE])
        wait_until(lambda: 'rate limit' in self.row('bot-1')[5], 5, 'why bot-1 moved')
        # A burst on the old credential: one line with a count.
        for _ in range(5):
            self.d.ok('POST', '/v1/reports', {'agent': 'bot-1', 'status': 429, 'kind': 'rate_limit',
                                              'subscription': 'a1', 'generation': generation})
        line = wait_until(lambda: [x for x in self.feed() if 'bot-1' in x and '\u00d75' in x], 5,
                          'one line counting the five reports')
        self.assertEqual(len(line), 1)
        # The card of a1 now says cooling, with when it comes back.
        wait_until(lambda: 'cooling' in self.card('a1'), 5, 'a1 cooling')
        self.assertRegex(self.card('a1'), r'until .*\(in 1[45]m')
        # The agent's history: a click shows the switch and the failure.
        self.click('[data-focus="agent:bot-1"]')
        wait_until(lambda: 'a1' in self.text('detail-history') and '429' in self.text('detail-events'),
                   5, "bot-1's history and events")
        # The chart counts them.
        wait_until(lambda: re.search(r'a1\s+6 failures, 1 switches away', self.text('chart')), 35,
                   'the chart: the six reports and the one switch away from a1')
        wait_until(lambda: '6\nfailures in the last hour' in self.text('summary'), 5, 'the summary')
        self.full_screenshot('activity-1280-full.png', 1280)
        # Back onto the cooling a1 by hand: the question says it is
        # cooling, and the assignment is forced.
        wait_until(lambda: 'a1 (cooling)' in self.texts('#assign-to option'), 5, 'a1 as a choice')
        Select(self.browser.find_element(By.ID, 'assign-to')).select_by_value('a1')
        self.click('#assign-form button[type=submit]')
        wait_until(lambda: self.shown('confirm'), 5, 'the confirmation')
        self.assertIn('It is cooling: the agent goes there anyway', self.text('confirm'))
        self.click('#confirm-yes')
        wait_until(lambda: self.d.ok('GET', '/v1/agents/bot-1')['subscription'] == 'a1', 10,
                   'the forced assignment')
        self.assertEqual(self.errors(), [])

    def test_an_exhausted_pool_shows_the_banner(self):
        self.sign_in()
        self.assertFalse(any('Pool solo' in b for b in self.banners()))
        generation = self.d.ok('GET', '/v1/agents/solo-bot')['generation']
        self.d.ok('POST', '/v1/reports', {'agent': 'solo-bot', 'status': 429, 'kind': 'rate_limit',
                                          'subscription': 'solo1', 'generation': generation,
                                          'retry_after': 3600})
        banner = wait_until(lambda: [b for b in self.banners() if 'Pool solo is exhausted' in b], 5,
                            'the exhausted banner')[0]
        self.assertRegex(banner, r'earliest returns at .*\(in (59m|1h)')
        self.assertIn('cooling', self.card('solo1'))
        self.screenshot('exhausted-1280.png', 1280, 800)
        self.assertEqual(self.errors(), [])

    def test_names_from_the_daemon_render_as_text(self):
        self.sign_in()
        wait_until(lambda: self.row(HOSTILE) and self.card(HOSTILE), 10, 'the hostile names')
        self.assertEqual(self.browser.execute_script('return document.images.length'), 0)
        self.assertEqual(self.browser.find_elements(By.CSS_SELECTOR, 'img'), [])
        self.assertIn(HOSTILE, self.row(HOSTILE)[0])
        self.assertIn(HOSTILE, self.card(HOSTILE))
        self.click('button[aria-label="show agent %s"]' % HOSTILE)
        wait_until(lambda: HOSTILE in self.text('detail-h'), 5, 'the detail')
        with self.assertRaises(NoAlertPresentException):
            self.browser.switch_to.alert.text
        self.assertEqual(self.browser.execute_script('return document.images.length'), 0)
        self.assertEqual(self.errors(), [])

    def test_actions_ask_for_confirmation(self):
        self.sign_in()
        wait_until(lambda: self.row('mover'), 10, 'mover')
        self.click('[data-focus="agent:mover"]')
        wait_until(lambda: self.shown('detail'), 5, 'the detail')
        before = self.d.ok('GET', '/v1/agents/mover')['subscription']
        target = 'a2' if before != 'a2' else 'a1'
        Select(self.browser.find_element(By.ID, 'assign-to')).select_by_value(target)
        self.browser.find_element(By.CSS_SELECTOR, '#assign-form button[type=submit]').click()
        wait_until(lambda: self.shown('confirm'), 5, 'the confirmation')
        self.assertIn('Assign agent mover to subscription ' + target, self.text('confirm'))
        self.browser.find_element(By.ID, 'confirm-no').click()
        wait_until(lambda: not self.shown('confirm'), 5, 'the dialog to close')
        self.assertEqual(self.d.ok('GET', '/v1/agents/mover')['subscription'], before)
        self.browser.find_element(By.CSS_SELECTOR, '#assign-form button[type=submit]').click()
        wait_until(lambda: self.shown('confirm'), 5, 'the confirmation')
        self.browser.find_element(By.ID, 'confirm-yes').click()
        wait_until(lambda: self.d.ok('GET', '/v1/agents/mover')['subscription'] == target, 10,
                   'the assignment')
        wait_until(lambda: self.row('mover')[1] == target, 5, 'the row')
        # Auto-switch off, Escape cancels, then confirmed.
        self.browser.find_element(By.ID, 'auto-toggle').click()
        wait_until(lambda: self.shown('confirm'), 5, 'the confirmation')
        self.browser.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_until(lambda: not self.shown('confirm'), 5, 'Escape to cancel')
        self.assertEqual(self.d.ok('GET', '/v1/agents/mover')['auto_switch'], 'on')
        self.browser.find_element(By.ID, 'auto-toggle').click()
        wait_until(lambda: self.shown('confirm'), 5, 'the confirmation')
        self.browser.find_element(By.ID, 'confirm-yes').click()
        wait_until(lambda: self.d.ok('GET', '/v1/agents/mover')['auto_switch'] == 'off', 10,
                   'auto-switch off')
        wait_until(lambda: 'Turn auto-switch on' == self.text('auto-toggle'), 5, 'the button')
        self.assertEqual(self.errors(), [])

    def test_the_report_credential_reads_but_cannot_act(self):
        self.sign_in(self.d.report)
        wait_until(lambda: self.card('a2'), 10, 'the subscriptions')
        before = self.d.ok('GET', '/v1/subscriptions/a2')
        self.click('[data-focus="reset:a2"]')
        self.browser.find_element(By.ID, 'confirm-yes').click()
        wait_until(lambda: 'needs the admin credential' in self.text('toast'), 5, 'the refusal')
        self.assertEqual(self.d.ok('GET', '/v1/subscriptions/a2')['updated_at'], before['updated_at'])
        self.assertEqual(self.errors(allowed=['403']), [])

    def test_keyboard_reaches_the_agents_and_their_detail(self):
        self.sign_in()
        wait_until(lambda: self.row('bot-1'), 10, 'bot-1')
        body = self.browser.find_element(By.TAG_NAME, 'body')
        body.send_keys(Keys.TAB)
        reached = set()
        for _ in range(60):
            focused = self.browser.switch_to.active_element
            reached.add(focused.get_attribute('id') or focused.get_attribute('data-focus'))
            if focused.get_attribute('data-focus') == 'agent:bot-1':
                break
            focused.send_keys(Keys.TAB)
        self.assertIn('agent-filter', reached)
        self.assertIn('agent-sort', reached)
        self.assertEqual(self.browser.switch_to.active_element.get_attribute('data-focus'), 'agent:bot-1')
        self.browser.switch_to.active_element.send_keys(Keys.ENTER)
        wait_until(lambda: self.shown('detail'), 5, 'the detail')
        self.assertEqual(self.browser.switch_to.active_element.get_attribute('id'), 'detail-close')
        self.assertEqual(self.errors(), [])

    def test_a_restarted_daemon_is_followed_without_signing_in_again(self):
        self.sign_in()
        wait_until(lambda: self.row('bot-1'), 10, 'bot-1')
        self.d.halt()
        wait_until(lambda: self.text('live') == 'offline', 10, 'the stream to be seen gone')
        wait_until(lambda: any('does not answer' in b for b in self.banners()), 10, 'the banner')
        self.d.start()
        wait_until(lambda: self.text('live') == 'live', 40, 'the stream again')
        wait_until(lambda: not any('does not answer:' in b and 'daemon' in b for b in self.banners()), 10,
                   'the banner gone')
        self.assertTrue(self.shown('dash'))
        # A decision after the restart reaches the page.
        generation = self.d.ok('GET', '/v1/agents/mover')['generation']
        self.d.ok('POST', '/v1/reports', {'agent': 'mover', 'status': 401, 'kind': 'auth',
                                          'subscription': 'a1', 'generation': generation})
        wait_until(lambda: any('mover: HTTP 401' in x for x in self.feed()), 5, 'the report')
        # Only the refused connections while it was down may be in the console.
        self.assertEqual(self.errors(allowed=['ERR_CONNECTION_REFUSED', 'ERR_EMPTY_RESPONSE',
                                              'ERR_CONNECTION_RESET', 'ERR_INCOMPLETE_CHUNKED']), [])

    def test_both_widths_read_and_are_saved(self):
        self.sign_in()
        wait_until(lambda: self.row('bot-1') and self.card('a1'), 10, 'the state')
        wait_until(lambda: 'a1' in self.text('chart'), 35, 'the chart')
        for width, height, name in [(1280, 800, 'dashboard-1280.png'), (390, 844, 'dashboard-390.png')]:
            self.screenshot(name, width, height)
            self.assertEqual(self.browser.execute_script('return window.innerWidth'), width)
            wide = self.browser.execute_script(
                'return document.documentElement.scrollWidth - window.innerWidth')
            self.assertLessEqual(wide, 1, 'horizontal scroll at %d px' % width)
            self.full_screenshot(name.replace('.png', '-full.png'), width)
        self.assertEqual(self.errors(), [])

    def test_every_answer_carries_the_security_headers(self):
        for path, token in [('/', False), ('/dashboard.js', False), ('/dashboard.css', False),
                            ('/v1/status', None), ('/v1/status', False), ('/nowhere', False)]:
            status, _, headers = self.d.call('GET', path, token=token, headers=True)
            csp = headers.get('Content-Security-Policy', '')
            self.assertIn("script-src 'self'", csp, path)
            self.assertIn("frame-ancestors 'none'", csp, path)
            self.assertNotIn('unsafe-inline', csp, path)
            self.assertEqual(headers.get('X-Content-Type-Options'), 'nosniff', path)
            self.assertEqual(headers.get('X-Frame-Options'), 'DENY', path)
        status, page, headers = self.d.call('GET', '/', token=False, headers=True)
        self.assertEqual(status, 200)
        self.assertTrue(headers['Content-Type'].startswith('text/html'))
        # No inline script and nothing from elsewhere.
        self.assertNotRegex(page, r'<script(?![^>]*\bsrc=)')
        self.assertNotRegex(page, r'(src|href)="(https?:)?//')
        self.assertEqual(self.d.call('GET', '/v1/agents', token=False)[0], 401)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument('--bin', required=True)
    parser.add_argument('--out', required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
