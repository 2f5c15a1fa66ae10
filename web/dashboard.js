// Switchboard's dashboard: plain JavaScript, no library and no build step.
// It reads the daemon's /v1/ routes with the credential the operator signs
// in with (kept in sessionStorage: this tab only), follows /v1/watch as a
// stream, and draws everything with DOM nodes whose text is set with
// textContent: nothing from the daemon is ever parsed as HTML.
'use strict';

(function () {
  const TOKEN_KEY = 'switchboard.credential';
  const REFRESH_MS = 5000;
  const TIMELINE_MS = 30000;
  const CHART_HOURS = 6;
  const CHART_BINS = 24;
  const FEED_MAX = 200;
  const COALESCE_MS = 30000;

  const state = {
    status: null,
    subs: [],
    agents: [],
    history: [],
    events: [],
    notesSeen: new Set(),
    notesPrimed: false,
    selected: null,
    running: false,
    watchAbort: null,
    watchLoop: 0,
    asked: 0,
    answered: 0,
    detailTimer: null,
    timers: [],
    soonTimer: null,
    timelineTimer: null,
    shown: {},
    toastTimer: null,
  };

  // -- DOM helpers -----------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /// An element; strings among the children become text nodes, never HTML.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(3)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  // -- time ------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');

  /// The daemon's names for things in words: "rate_limit" -> "rate limit".
  const words = (name) => String(name).replace(/_/g, ' ');

  function utcText(d) {
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) +
      ' ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + ' UTC';
  }

  /// A <time>: the browser's zone, UTC on hover.
  function when(iso, style) {
    if (!iso) return el('span', { class: 'muted', text: 'never' });
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    const text = style === 'time' || sameDay
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
      : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    return el('time', { datetime: d.toISOString(), title: utcText(d), text });
  }

  function spanText(ms) {
    if (ms <= 0) return 'now';
    let s = Math.round(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + pad(m) + 'm';
    if (m > 0) return m + 'm ' + pad(s) + 's';
    return s + 's';
  }

  /// A countdown to `iso`, kept current by the ticker.
  function countdown(iso) {
    const e = el('span', { class: 'countdown', 'data-until': iso, title: utcText(new Date(iso)) });
    tickOne(e);
    return e;
  }

  function tickOne(e) {
    const left = new Date(e.dataset.until).getTime() - Date.now();
    e.textContent = left <= 0 ? 'due now' : 'in ' + spanText(left);
  }

  function tick() {
    document.querySelectorAll('[data-until]').forEach(tickOne);
  }

  // -- the daemon ------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const credential = () => sessionStorage.getItem(TOKEN_KEY) || '';

  async function api(method, path, body) {
    const init = { method, cache: 'no-store', headers: { Authorization: 'Bearer ' + credential() } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'the daemon does not answer');
    }
    const text = await r.text();
    let doc = null;
    try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
    if (!r.ok) {
      const err = (doc && doc.error) || {};
      if (r.status === 401) signOut('The daemon refused the credential: sign in again.');
      throw new ApiError(r.status, err.code || 'http_' + r.status, err.message || 'HTTP ' + r.status);
    }
    return { doc, next: r.headers.get('X-Switchboard-Next') };
  }

  const get = async (path) => (await api('GET', path)).doc;

  /// Pages of /v1/history or /v1/events back to `since` (at most 5 pages).
  async function pagesSince(path, since) {
    let out = [];
    let before = null;
    for (let i = 0; i < 5; ++i) {
      const r = await api('GET', path + '?limit=1000' + (before ? '&before=' + before : ''));
      out = out.concat(r.doc);
      const last = r.doc[r.doc.length - 1];
      if (!r.next || !last || new Date(last.at).getTime() < since) break;
      before = r.next;
    }
    return out;
  }

  // -- sign in and out -------------------------------------------------------

  function showLogin(message) {
    $('dash').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('banners').replaceChildren();
    state.shown = {};
    $('token').focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    showLogin(message);
  }

  async function signIn(event) {
    event.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await get('/v1/status');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e.status === 401
        ? 'That is neither the admin nor the report credential of this daemon.'
        : 'The daemon did not answer: ' + e.message);
      return;
    }
    begin();
  }

  function begin() {
    $('login').hidden = true;
    $('dash').hidden = false;
    $('signout').hidden = false;
    state.running = true;
    refresh();
    loadTimeline();
    watch();
    state.timers.push(setInterval(refresh, REFRESH_MS));
    state.timers.push(setInterval(loadTimeline, TIMELINE_MS));
    state.timers.push(setInterval(tick, 1000));
  }

  function stop() {
    state.running = false;
    state.timers.forEach(clearInterval);
    state.timers = [];
    if (state.watchAbort) state.watchAbort.abort();
    setLive(false);
  }

  // -- reading ---------------------------------------------------------------

  async function refresh() {
    if (!state.running) return;
    const asked = ++state.asked;
    try {
      const [status, subs, agents, notes] = await Promise.all([
        get('/v1/status'), get('/v1/subscriptions'), get('/v1/agents'),
        get('/v1/notifications?limit=20')]);
      // An answer older than one already drawn is dropped.
      if (asked < state.answered) return;
      state.answered = asked;
      state.status = status;
      state.subs = subs;
      state.agents = agents;
      takeNotes(notes);
      renderAll();
    } catch (e) {
      if (e.status === 401) return;
      banners([{ level: 'bad', text: e.code === 'unreachable'
        ? 'The daemon does not answer: the page tries again every 5 s.'
        : 'The daemon did not answer: ' + e.message }]);
    }
  }

  /// A refresh soon after a decision (several decisions, one refresh).
  function soon() {
    if (state.soonTimer) return;
    state.soonTimer = setTimeout(() => { state.soonTimer = null; refresh(); }, 250);
  }

  async function loadTimeline() {
    if (!state.running) return;
    const since = Date.now() - CHART_HOURS * 3600e3;
    try {
      const [history, events] = await Promise.all([
        pagesSince('/v1/history', since), pagesSince('/v1/events', since)]);
      state.history = history;
      state.events = events;
      renderSummary();
      renderAgents();
      renderChart();
    } catch (e) {
      /* the next round tries again; refresh() shows the daemon's state */
    }
  }

  function timelineSoon() {
    if (state.timelineTimer) return;
    state.timelineTimer = setTimeout(() => { state.timelineTimer = null; loadTimeline(); }, 2000);
  }

  // -- the live stream -------------------------------------------------------

  function setLive(on) {
    $('live').textContent = on ? 'live' : 'offline';
    $('live').classList.toggle('on', on);
  }

  /// GET /v1/watch read as a stream (EventSource cannot send the
  /// credential in a header, and a credential in the URL would be logged).
  async function watch() {
    // One loop at a time: a sign-out and sign-in while this one sleeps
    // starts another, and this one then ends.
    const mine = ++state.watchLoop;
    let wait = 1000;
    while (state.running && mine === state.watchLoop) {
      const abort = new AbortController();
      state.watchAbort = abort;
      try {
        const r = await fetch('/v1/watch', {
          cache: 'no-store', signal: abort.signal,
          headers: { Authorization: 'Bearer ' + credential(), Accept: 'text/event-stream' },
        });
        if (r.status === 401) return signOut('The daemon refused the credential: sign in again.');
        if (r.ok) {
          setLive(true);
          wait = 1000;
          await readStream(r.body.getReader());
        }
      } catch (e) {
        if (abort.signal.aborted) return;
      }
      setLive(false);
      await new Promise((done) => setTimeout(done, wait));
      wait = Math.min(wait * 2, 30000);
    }
  }

  async function readStream(reader) {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        try { onDecision(JSON.parse(data)); } catch (e) { /* a line that is not JSON: skipped */ }
      }
    }
  }

  function onDecision(ev) {
    const at = ev.at ? new Date(ev.at) : new Date();
    const item = { at, kind: ev.kind, agent: ev.agent, key: '', text: '' };
    if (ev.kind === 'report' || ev.kind === 'observation') {
      item.key = [ev.kind, ev.agent, ev.outcome, ev.status].join('|');
      item.text = ev.agent + ': ' + (ev.status ? 'HTTP ' + ev.status + ', ' : '') + words(ev.outcome || ev.kind);
      item.tag = ev.kind === 'report' ? 'report' : 'observed';
      if (ev.kind === 'report') timelineSoon();
    } else if (ev.kind === 'switch') {
      item.text = ev.agent + ': ' + (ev.from || 'none') + ' \u2192 ' + (ev.to || 'none') +
        ' (' + words(ev.outcome || 'switch') + ', generation ' + ev.generation + ')';
      item.tag = 'switch';
      timelineSoon();
    } else {
      item.key = ['apply', ev.agent, ev.apply].join('|');
      item.text = ev.agent + ': generation ' + ev.generation + ', ' + words(ev.apply || 'applied');
      item.tag = 'apply';
    }
    feed(item);
    soon();
    if (ev.agent === state.selected) detailSoon();
  }

  /// The open agent's history again, after a decision about it.
  function detailSoon() {
    if (state.detailTimer) return;
    state.detailTimer = setTimeout(() => {
      state.detailTimer = null;
      if (state.selected) loadDetail(state.selected);
    }, 1000);
  }

  /// Adds a line to the feed; a line like the newest one (same agent, same
  /// kind and outcome, within 30 s) is counted on it instead.
  function feed(item) {
    const list = $('feed');
    const top = list.firstElementChild;
    if (item.key && top && top.dataset.key === item.key &&
        item.at.getTime() - Number(top.dataset.at) < COALESCE_MS) {
      const n = Number(top.dataset.count) + 1;
      top.dataset.count = String(n);
      top.dataset.at = String(item.at.getTime());
      top.querySelector('.count').textContent = ' \u00d7' + n;
      top.querySelector('.when').replaceChildren(when(item.at.toISOString(), 'time'));
      return;
    }
    const li = el('li', { class: 'k-' + item.tag },
      el('span', { class: 'when' }, when(item.at.toISOString(), 'time')),
      el('span', { class: 'tag ' + item.tag, text: item.tag }),
      el('span', { class: 'what', title: item.detail || null }, item.text, el('span', { class: 'count' })));
    li.dataset.key = item.key;
    li.dataset.at = String(item.at.getTime());
    li.dataset.count = '1';
    list.prepend(li);
    while (list.children.length > FEED_MAX) list.lastElementChild.remove();
  }

  /// Notifications (alerts) join the feed as they appear.
  function takeNotes(notes) {
    const fresh = notes.filter((n) => !state.notesSeen.has(n.id)).reverse();
    fresh.forEach((n) => state.notesSeen.add(n.id));
    const shown = state.notesPrimed ? fresh : fresh.slice(-5);
    state.notesPrimed = true;
    for (const n of shown)
      feed({ at: new Date(n.created_at), tag: 'alert', key: '', text: n.title, detail: n.message });
  }

  // -- drawing ---------------------------------------------------------------

  function renderAll() {
    renderHeader();
    renderBanners();
    renderSummary();
    renderPools();
    renderAgents();
    if (state.selected) renderDetailFacts();
  }

  function renderHeader() {
    const st = state.status;
    $('daemon').textContent = st ? 'version ' + st.version + ', up ' + spanText(st.uptime_s * 1000) : '';
  }

  /// The fleet at a glance: four numbers, each with its words.
  function renderSummary() {
    const usable = state.subs.filter((s) => s.state === 'active').length;
    const behind = state.agents.filter(isBehind).length;
    const hour = Date.now() - 3600e3;
    const switches = state.history.filter((h) => h.from && new Date(h.at).getTime() >= hour).length;
    const failures = state.events.filter((e) => new Date(e.at).getTime() >= hour).length;
    const tiles = [
      [state.agents.length, 'agents', behind ? behind + ' behind' : 'all applied', behind ? 'warn' : ''],
      [usable + ' / ' + state.subs.length, 'subscriptions usable', state.subs.length - usable ? (state.subs.length - usable) + ' out of selection' : 'all in selection', usable < state.subs.length ? 'warn' : ''],
      [switches, 'switches in the last hour', '', ''],
      [failures, 'failures in the last hour', '', failures ? 'warn' : ''],
    ];
    if (!changed('summary', tiles)) return;
    $('summary').replaceChildren(...tiles.map(([n, what, note, level]) =>
      el('div', { class: 'tile ' + level }, el('span', { class: 'n', text: n }), el('span', { text: what }),
        note ? el('span', { class: 'muted', text: note }) : null)));
  }

  function banners(list) {
    if (!changed('banners', list.map((b) => [b.level, b.text, b.key || '']))) return;
    $('banners').replaceChildren(...list.map((b) =>
      el('p', { class: 'banner ' + b.level, role: 'alert' }, b.text, b.extra || null)));
  }

  function soonestReset(subs) {
    let best = null;
    for (const s of subs) {
      const t = s.excluded_until || s.reset_at;
      if (t && (!best || new Date(t) < new Date(best))) best = t;
    }
    return best;
  }

  function renderBanners() {
    const out = [];
    const comps = (state.status && state.status.components) || {};
    const pool = comps['subscription-pool'] || {};
    for (const [name, p] of Object.entries(pool.pools || {})) {
      if (p.subscriptions > 0 && p.excluded >= p.subscriptions) {
        const reset = soonestReset(state.subs.filter((s) => s.pool === name));
        out.push({
          level: 'bad',
          key: reset,
          text: 'Pool ' + name + ' is exhausted: ' + (p.subscriptions === 1 ? 'its only subscription'
            : 'none of its ' + p.subscriptions + ' subscriptions') + ' can take an agent. ',
          extra: reset ? el('span', {}, 'The earliest returns at ', when(reset), ' (', countdown(reset), ').')
            : 'No reset time is known.',
        });
      }
    }
    const sup = comps['container-supervisor'] || {};
    if (sup.engine === 'unreachable')
      out.push({ level: 'bad', text: 'The Docker engine does not answer' + (sup.docker_socket ? ' at ' + sup.docker_socket : '') + ': tokens cannot reach containers.' });
    const behind = state.agents.filter(isBehind).length;
    if (behind > 0)
      out.push({ level: 'warn', text: behind + (behind === 1 ? ' agent is' : ' agents are') + ' behind: a committed token is not applied to its container yet.' });
    for (const [name, c] of Object.entries(comps))
      if (c.state && c.state !== 'running')
        out.push({ level: 'bad', text: 'Component ' + name + ' does not answer' + (c.error ? ': ' + c.error : '.') });
    banners(out);
  }

  const isBehind = (a) => a.applied_generation < a.generation;

  function stateBadge(s) {
    const text = s.state === 'retired' ? 'retired: ' + words(s.retired || 'unknown reason') : s.state;
    return el('span', { class: 'state s-' + s.state }, text);
  }

  function utilBar(label, value, reset) {
    if (value === null || value === undefined) return null;
    const pct = Math.max(0, Math.min(100, value <= 1 ? value * 100 : value));
    const fill = el('div', { class: 'fill' + (pct >= 90 ? ' critical' : pct >= 80 ? ' high' : '') });
    fill.style.width = pct.toFixed(1) + '%';
    return el('div', { class: 'bar' },
      el('span', { text: label }),
      el('div', { class: 'track', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(0), 'aria-label': label + ' utilization' }, fill),
      el('span', { class: 'pct', text: pct.toFixed(0) + ' %' }),
      el('span', { class: 'reset' }, reset ? ['resets ', countdown(reset)] : ''));
  }

  function renderPools() {
    if (!changed('pools', [state.subs, state.agents.map((a) => [a.name, a.subscription])])) return;
    const byPool = new Map();
    for (const s of state.subs) {
      if (!byPool.has(s.pool)) byPool.set(s.pool, []);
      byPool.get(s.pool).push(s);
    }
    if (byPool.size === 0) {
      $('pools').replaceChildren(el('p', { class: 'muted' }, 'No subscription yet: add one with ', el('code', {}, 'switchboard subscription add'), '.'));
      return;
    }
    const groups = [];
    for (const [pool, subs] of [...byPool.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const usable = subs.filter((s) => s.state === 'active').length;
      groups.push(el('div', { class: 'pool' },
        el('h3', {}, 'Pool ' + pool + ' ', el('span', { class: 'muted', text: '(' + subs[0].provider + ', ' + usable + ' of ' + subs.length + ' usable)' })),
        el('div', { class: 'cards' }, subs.map(subscriptionCard))));
    }
    keepFocus(() => $('pools').replaceChildren(...groups));
  }

  function subscriptionCard(s) {
    const agents = state.agents.filter((a) => a.subscription === s.name).map((a) => a.name);
    const until = s.state === 'cooling' ? (s.excluded_until || s.reset_at) : null;
    return el('article', { class: 'card s-' + s.state, 'aria-label': 'subscription ' + s.name },
      el('div', { class: 'card-head' }, el('span', { class: 'name', text: s.name }), stateBadge(s)),
      until ? el('div', { class: 'until' }, 'until ', when(until), ' (', countdown(until), ')') : null,
      el('div', { class: 'meta' }, s.provider + (s.kind === 'oauth' ? ' login' : ' token') + ' \u00b7 ',
        el('code', { title: 'fingerprint (never the token)', text: s.fingerprint }),
        s.expires_at ? el('span', {}, ' \u00b7 expires ', when(s.expires_at)) : null),
      utilBar('5h', s.utilization_5h, s.reset_5h_at),
      utilBar('7d', s.utilization_7d, s.reset_7d_at),
      el('div', { class: 'meta' }, el('span', { class: 'muted', text: 'agents: ' }), namesText(agents, 8)),
      el('div', { class: 'card-foot' },
        el('span', { class: 'muted', text: 'failures: ' + s.failures_2h + ' in 2 h, ' + s.failures_24h + ' in 24 h' }),
        el('button', { type: 'button', 'data-focus': 'reset:' + s.name, 'aria-label': 'reset subscription ' + s.name, onclick: () => resetSubscription(s.name) }, 'Reset')));
  }

  /// "a, b, c and 5 more" (at most `shown` names).
  function namesText(names, shown) {
    if (names.length === 0) return 'none';
    if (names.length <= shown) return names.join(', ');
    return names.slice(0, shown).join(', ') + ' and ' + (names.length - shown) + ' more';
  }

  /// The newest switch of each agent (from /v1/history).
  function lastSwitches() {
    const out = new Map();
    for (const h of state.history) {
      const seen = out.get(h.agent);
      if (!seen || h.id > seen.id) out.set(h.agent, h);
    }
    return out;
  }

  function switchWhy(h) {
    return words(h.trigger) + (h.failure_kind ? ', ' + words(h.failure_kind) : '') +
      (h.event_count > 1 ? ', ' + h.event_count + ' reports' : '');
  }

  const sorters = {
    name: (a, b) => a.name.localeCompare(b.name),
    subscription: (a, b) => (a.subscription || '').localeCompare(b.subscription || '') || a.name.localeCompare(b.name),
    behind: (a, b) => Number(isBehind(b)) - Number(isBehind(a)) || a.name.localeCompare(b.name),
    switch: (a, b) => (b.last_switch_at || '').localeCompare(a.last_switch_at || '') || a.name.localeCompare(b.name),
  };

  function renderAgents() {
    const filter = $('agent-filter').value.trim().toLowerCase();
    const last = lastSwitches();
    if (!changed('agents', [state.agents, [...last.values()], filter, $('agent-sort').value, state.selected])) return;
    const rows = state.agents
      .filter((a) => !filter || [a.name, a.subscription, a.pool, a.container_state, isBehind(a) ? 'behind' : '']
        .some((x) => x && x.toLowerCase().includes(filter)))
      .sort(sorters[$('agent-sort').value] || sorters.name)
      .map((a) => agentRow(a, last.get(a.name)));
    $('agent-count').textContent = rows.length + ' of ' + state.agents.length + ' agents';
    keepFocus(() => $('agents').tBodies[0].replaceChildren(...rows));
  }

  function agentRow(a, h) {
    const behind = isBehind(a);
    return el('tr', { class: (behind ? 'behind' : '') + (state.selected === a.name ? ' selected' : '') },
      el('td', { 'data-label': 'agent' }, el('button', {
        type: 'button', class: 'link', 'data-focus': 'agent:' + a.name,
        'aria-label': 'show agent ' + a.name, onclick: () => select(a.name),
      }, a.name), el('div', { class: 'muted', text: 'pool ' + a.pool })),
      el('td', { 'data-label': 'subscription', text: a.subscription || 'none' }),
      el('td', { 'data-label': 'generation' }, String(a.applied_generation) + ' / ' + a.generation + ' ',
        behind ? el('span', { class: 'state behind', text: 'behind' }) : el('span', { class: 'muted', text: 'applied' })),
      el('td', { class: 'wide', text: a.container ? a.container + ': ' + (a.container_state || 'unknown') : 'no container' }),
      el('td', { class: 'wide', text: a.auto_switch }),
      el('td', { 'data-label': 'last switch' }, lastSwitchCell(a, h)));
  }

  /// When the agent last switched, and why (once /v1/history has it).
  function lastSwitchCell(a, h) {
    if (!a.last_switch_at) return el('span', { class: 'muted', text: 'never' });
    if (!h || new Date(h.at) < new Date(a.last_switch_at)) return when(a.last_switch_at);
    return [when(h.at), el('div', { class: 'muted', text: switchWhy(h) })];
  }

  /// Whether what `part` would draw from `inputs` differs from what it
  /// drew last: an unchanged part is left alone (no flicker, no lost
  /// selection, nothing re-read by a screen reader).
  function changed(part, inputs) {
    const key = JSON.stringify(inputs);
    if (state.shown[part] === key) return false;
    state.shown[part] = key;
    return true;
  }

  /// Re-draws without losing the keyboard's place: the element that had
  /// the focus gets it back in its new copy (matched by data-focus).
  function keepFocus(draw) {
    const key = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focus : undefined;
    draw();
    focusOn(key);
  }

  /// Focuses the element whose data-focus is `key`, if there is one
  /// (compared as text: a name is never part of a selector).
  function focusOn(key) {
    if (!key) return;
    const target = [...document.querySelectorAll('[data-focus]')].find((e) => e.dataset.focus === key);
    if (target) target.focus();
  }

  // -- the chart -------------------------------------------------------------

  function renderChart() {
    const now = Date.now();
    const start = now - CHART_HOURS * 3600e3;
    const width = (now - start) / CHART_BINS;
    const names = new Set(state.subs.map((s) => s.name));
    const rows = new Map([...names].sort().map((n) => [n, { fail: new Array(CHART_BINS).fill(0), sw: new Array(CHART_BINS).fill(0) }]));
    const bin = (at) => Math.min(CHART_BINS - 1, Math.floor((new Date(at).getTime() - start) / width));
    for (const e of state.events) {
      const t = new Date(e.at).getTime();
      if (t >= start && rows.has(e.subscription)) rows.get(e.subscription).fail[bin(e.at)]++;
    }
    for (const h of state.history) {
      const t = new Date(h.at).getTime();
      if (t >= start && h.from && rows.has(h.from)) rows.get(h.from).sw[bin(h.at)]++;
    }
    if (rows.size === 0) {
      $('chart').replaceChildren(el('p', { class: 'muted', text: 'No subscription yet.' }));
      return;
    }
    const top = Math.max(1, ...[...rows.values()].map((r) => Math.max(...r.fail, ...r.sw)));
    const out = [];
    for (const [name, r] of rows) {
      const fails = r.fail.reduce((x, y) => x + y, 0);
      const sws = r.sw.reduce((x, y) => x + y, 0);
      const summary = fails + ' failures, ' + sws + ' switches away';
      const g = svg('svg', { viewBox: '0 0 240 40', preserveAspectRatio: 'none', role: 'img', 'aria-label': name + ': ' + summary + ' in the last ' + CHART_HOURS + ' hours' });
      g.append(svg('title', {}, name + ': ' + summary));
      r.fail.forEach((n, i) => {
        if (n === 0) return;
        const h = Math.max(2, (n / top) * 34);
        g.append(svg('rect', { class: 'fail', x: i * 10 + 1, y: 40 - h, width: 5, height: h }, svg('title', {}, n + ' failures')));
      });
      r.sw.forEach((n, i) => {
        if (n === 0) return;
        const h = Math.max(4, (n / top) * 34);
        const x = i * 10 + 6;
        g.append(svg('polygon', { class: 'switch', points: x + ',' + (40 - h) + ' ' + (x + 4) + ',40 ' + (x - 0) + ',40' }, svg('title', {}, n + ' switches away')));
      });
      out.push(el('div', { class: 'chart-row' },
        el('div', { class: 'label' }, name, el('span', { class: 'sum', text: summary })), g));
    }
    out.push(el('div', { class: 'axis', 'aria-hidden': 'true' },
      el('span', { text: CHART_HOURS + ' h ago' }), el('span', { text: CHART_HOURS / 2 + ' h ago' }), el('span', { text: 'now' })));
    $('chart').replaceChildren(...out);
  }

  // -- one agent -------------------------------------------------------------

  function select(name) {
    state.selected = name;
    $('detail').hidden = false;
    $('detail-h').textContent = 'Agent ' + name;
    renderAgents();
    renderDetailFacts();
    $('detail-h').scrollIntoView({ block: 'nearest' });
    $('detail-close').focus();
    loadDetail(name);
  }

  async function loadDetail(name) {
    const q = '?agent=' + encodeURIComponent(name) + '&limit=20';
    try {
      const [history, events] = await Promise.all([get('/v1/history' + q), get('/v1/events' + q)]);
      if (state.selected !== name) return;
      $('detail-history').tBodies[0].replaceChildren(...(history.length ? history.map((h) => el('tr', {},
        el('td', {}, when(h.at)), el('td', { text: h.from || 'none' }), el('td', { text: h.to || 'none' }),
        el('td', { text: switchWhy(h) }), el('td', { text: words(h.apply) }))) : [emptyRow(5, 'No switch yet.')]));
      $('detail-events').tBodies[0].replaceChildren(...(events.length ? events.map((e) => el('tr', {},
        el('td', {}, when(e.at)), el('td', { text: words(e.kind) }), el('td', { text: e.status || '' }),
        el('td', { text: e.subscription || '' }), el('td', { text: e.message || e.reason || '' }))) : [emptyRow(5, 'No failure reported.')]));
    } catch (e) {
      toast('Could not read the agent\'s history: ' + e.message, true);
    }
  }

  const emptyRow = (n, text) => el('tr', {}, el('td', { colspan: n, class: 'muted', text }));

  function renderDetailFacts() {
    const a = state.agents.find((x) => x.name === state.selected);
    if (!a) {
      $('detail-facts').replaceChildren(el('p', { class: 'muted', text: 'This agent is gone.' }));
      return;
    }
    $('detail-facts').replaceChildren(el('p', {},
      'Pool ', el('strong', { text: a.pool }), ', subscription ', el('strong', { text: a.subscription || 'none' }),
      ', generation ' + a.generation + ' (applied ' + a.applied_generation + ')',
      a.last_apply ? ', last application: ' + words(a.last_apply.result) : '', '.'));
    const choices = state.subs.filter((s) => s.pool === a.pool).map((s) => [s.name, s.state]);
    if (changed('assign', [a.name, choices])) {
      const select = $('assign-to');
      const current = select.value;
      select.replaceChildren(...choices.map(([name, st]) => el('option', { value: name, text: name + ' (' + st + ')' })));
      if (current && choices.some(([name]) => name === current)) select.value = current;
    }
    $('auto-toggle').textContent = a.auto_switch === 'off' ? 'Turn auto-switch on' : 'Turn auto-switch off';
  }

  // -- actions ---------------------------------------------------------------

  /// Asks for confirmation in a modal dialog; resolves to true or false.
  function confirmAction(text) {
    return new Promise((done) => {
      const d = $('confirm');
      $('confirm-text').textContent = text;
      const finish = (answer) => {
        $('confirm-yes').onclick = null;
        $('confirm-no').onclick = null;
        d.oncancel = null;
        d.close();
        done(answer);
      };
      $('confirm-yes').onclick = () => finish(true);
      $('confirm-no').onclick = () => finish(false);
      d.oncancel = (e) => { e.preventDefault(); finish(false); };
      d.showModal();
      $('confirm-no').focus();
    });
  }

  async function act(question, method, path, body, done) {
    if (!(await confirmAction(question))) return;
    try {
      await api(method, path, body);
      toast(done);
      refresh();
      timelineSoon();
      if (state.selected) loadDetail(state.selected);
    } catch (e) {
      toast(e.status === 403 ? 'Not done: this needs the admin credential (' + e.message + ')' : 'Not done: ' + e.message, true);
    }
  }

  function resetSubscription(name) {
    act('Reset subscription ' + name + '? It becomes selectable again at once, whatever cooled or retired it.',
      'POST', '/v1/subscriptions/' + encodeURIComponent(name) + '/reset', undefined, 'Subscription ' + name + ' was reset.');
  }

  function assignSelected(event) {
    event.preventDefault();
    const name = state.selected;
    const to = $('assign-to').value;
    if (!name || !to) return;
    // Onto a subscription out of selection only on purpose: the question
    // says so, and the request forces it (`assign --force`).
    const target = state.subs.find((s) => s.name === to);
    const out = target && target.state !== 'active';
    act('Assign agent ' + name + ' to subscription ' + to + '?' +
      (out ? ' It is ' + target.state + ': the agent goes there anyway.' : '') +
      ' Its container gets the new token.',
      'POST', '/v1/agents/' + encodeURIComponent(name) + '/assign', out ? { subscription: to, force: true } : { subscription: to },
      'Agent ' + name + ' was assigned to ' + to + '.');
  }

  function toggleAutoSwitch() {
    const a = state.agents.find((x) => x.name === state.selected);
    if (!a) return;
    const next = a.auto_switch === 'off' ? 'on' : 'off';
    act('Turn auto-switch ' + next + ' for agent ' + a.name + '?',
      'POST', '/v1/agents/' + encodeURIComponent(a.name) + '/set', { auto_switch: next }, 'Auto-switch is ' + next + ' for ' + a.name + '.');
  }

  function toast(text, isError) {
    const t = $('toast');
    t.textContent = text;
    t.classList.toggle('error', !!isError);
    t.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  // -- start -----------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', () => signOut('Signed out.'));
    $('agent-filter').addEventListener('input', renderAgents);
    $('agent-sort').addEventListener('change', renderAgents);
    $('detail-close').addEventListener('click', () => {
      const was = state.selected;
      state.selected = null;
      $('detail').hidden = true;
      renderAgents();
      focusOn('agent:' + was);
    });
    $('assign-form').addEventListener('submit', assignSelected);
    $('auto-toggle').addEventListener('click', toggleAutoSwitch);
    if (credential()) begin();
    else showLogin('');
  });
})();
