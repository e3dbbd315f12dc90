'use strict';
// hashgate console. Every value from the server reaches the DOM through textContent: worker
// names and user agents come from miners and must never be parsed as HTML.
(() => {
  const $ = id => document.getElementById(id);
  const state = {
    me: null, version: 0, overview: null, history: [], pools: [], policy: null, events: [],
    workers: new Map(), page: 'overview', ws: null, retry: 0, watching: '', minerCount: null, detailRow: null, selected: new Set(),
    sort: { key: 'worker', asc: true }, minerPage: 0, detail: null, eventLog: [], eventSource: '',
  };
  const PAGE_ROWS = 200;
  const COLORS = { import: '#4ea1ff', limit: '#ff6b6b', ai: '#b48cff', mining: '#f5b546', budget: '#3ecf8e', hash: '#4ea1ff', acc: '#3ecf8e', rej: '#ff6b6b' };

  // ---------- formatting ----------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const kw = v => (v == null || !Number.isFinite(v)) ? '–' : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
  function hashrate(h) {
    if (!h) return '0 H/s';
    const u = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];
    let i = 0;
    while (h >= 1000 && i < u.length - 1) { h /= 1000; i++; }
    return (h >= 100 ? h.toFixed(0) : h >= 10 ? h.toFixed(1) : h.toFixed(2)) + ' ' + u[i];
  }
  const int = n => (n ?? 0).toLocaleString('en-US');
  // A paused worker or group shows "paused", not a hashrate: its last shares are history, not
  // what it mines now. windows is the 5 min, 1 h and 24 h estimates, for a hover or a field.
  const windows = x => `5 min ${hashrate(x.hashrate_5m_hs)} · 1 h ${hashrate(x.hashrate_1h_hs)} · 24 h ${hashrate(x.hashrate_24h_hs)}`;
  const rateCell = (x, paused) => el('td', paused ? { class: 'num muted', text: 'paused' } : { class: 'num', text: hashrate(x.hashrate_hs), title: windows(x) });
  // rejectedPct is "rejected N (x%)" as the overview says it.
  const rejectedPct = (acc, rej) => `${int(rej)} (${acc + rej ? (100 * rej / (acc + rej)).toFixed(2) : '0.00'}%)`;
  function compact(n) {
    if (n == null) return '–';
    if (n >= 1e12) return (n / 1e12).toFixed(1) + 'T';
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n * 100) / 100);
  }
  // diff shows a difficulty in plain decimals below 10,000 (0.00002, 512, 4096) and with an SI
  // suffix above (16.4K, 1.2M): an operator compares it with what the pool says, and 2.0e-5
  // reads as a typo.
  function diff(n) {
    if (n == null || !Number.isFinite(n)) return '–';
    if (n <= 0) return '0';
    if (n >= 1e4) {
      const si = ['K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
      let i = -1;
      while (n >= 999.5 && i < si.length - 1) { n /= 1e3; i++; }
      return (n >= 100 ? n.toFixed(0) : n.toFixed(1).replace(/\.0$/, '')) + si[i];
    }
    // Three significant digits, as many decimals as that takes; toFixed never uses an exponent
    // below 1e21.
    const decimals = Math.min(100, Math.max(0, 2 - Math.floor(Math.log10(n))));
    return n.toFixed(decimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  }
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  // iso is a local time in ISO 8601 with its offset (2026-12-07 14:03:12+01:00): the same on
  // every browser, whatever its locale, and no day/month order to guess.
  function iso(t) {
    const d = new Date(t);
    if (isNaN(d)) return '–';
    const off = -d.getTimezoneOffset(), a = Math.abs(off);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
      `${off < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }
  function ago(ms) {
    if (!ms) return '–';
    const s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return Math.round(s) + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  // agoCell is a table cell saying how long ago ms was, with the ISO time on hover.
  const agoCell = (ms, cls) => el('td', { class: cls, text: ago(ms), title: ms ? iso(ms) : null });
  const clock = t => { const d = new Date(t); return isNaN(d) ? '–' : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };
  const when = iso;
  // timeEl is a <time> showing the time of day, the full ISO value in its title and datetime.
  const timeEl = t => { const d = new Date(t); return el('time', { text: clock(t), title: iso(t), datetime: isNaN(d) ? null : d.toISOString() }); };
  const badge = (text, cls) => el('span', { class: 'badge ' + (cls || text), text });
  function setText(id, v) { const e = $(id); if (e && e.textContent !== v) e.textContent = v; }

  // patch updates a table body row by row, keeping the nodes of unchanged rows: a row that is
  // rebuilt under the pointer between mousedown and mouseup would swallow the click.
  function patch(tbody, items, keyOf, build) {
    const old = new Map([...tbody.children].map(tr => [tr.dataset.key, tr]));
    const rows = items.map(it => {
      const key = String(keyOf(it)), sig = JSON.stringify(it);
      const tr = old.get(key);
      if (tr && tr.dataset.sig === sig) return tr;
      const n = build(it);
      n.dataset.key = key;
      n.dataset.sig = sig;
      return n;
    });
    if (rows.length !== tbody.children.length || rows.some((r, i) => tbody.children[i] !== r)) tbody.replaceChildren(...rows);
  }

  function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (bad ? ' bad' : '');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.add('hidden'), 3500);
  }

  // ---------- API ----------
  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && state.me?.csrf_token) headers['X-CSRF-Token'] = state.me.csrf_token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    if (res.status === 401 && path !== '/api/v1/login') { showLogin(); throw new Error('signed out'); }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new Error(data?.error || res.statusText);
    return data;
  }

  async function control(method, path, body, done) {
    $('control-error').textContent = '';
    try {
      await api(method, path, body);
      toast(done);
    } catch (e) {
      $('control-error').textContent = e.message;
      toast(e.message, true);
    }
  }

  // ---------- login ----------
  function showLogin() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    clearTimeout(loadAlerts.timer);
    $('app').classList.add('hidden');
    $('login').classList.remove('hidden');
    $('login-name').focus();
  }

  $('login-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    $('login-error').textContent = '';
    $('login-submit').disabled = true;
    try {
      state.me = await api('POST', '/api/v1/login', { name: $('login-name').value, password: $('login-password').value });
      $('login-password').value = '';
      start();
    } catch (e) {
      $('login-error').textContent = e.message;
    } finally {
      $('login-submit').disabled = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/api/v1/logout'); } catch (_) { /* signed out either way */ }
    state.me = null;
    showLogin();
  });

  async function boot() {
    try {
      state.me = await api('GET', '/api/v1/me');
      start();
    } catch (_) { /* showLogin already ran on 401 */ }
  }

  function start() {
    $('login').classList.add('hidden');
    $('app').classList.remove('hidden');
    document.body.classList.toggle('viewer', state.me.role !== 'admin');
    $('who').textContent = `${state.me.name} · ${state.me.role}`;
    $('logout').classList.toggle('hidden', state.me.kind !== 'user');
    route();
    connect();
    loadAlerts();
  }

  // ---------- alert banner ----------
  const ALERTS_EVERY = 15000;
  async function loadAlerts() {
    clearTimeout(loadAlerts.timer);
    try {
      renderAlerts(await api('GET', '/api/v1/alerts'));
    } catch (_) { /* signed out (the login shows), or the console is restarting: retried */ }
    if (!$('app').classList.contains('hidden')) loadAlerts.timer = setTimeout(loadAlerts, ALERTS_EVERY);
  }

  function renderAlerts(r) {
    const box = $('alerts');
    const list = r?.alerts || [];
    box.replaceChildren(...list.map(a => el('div', { class: 'alert-item ' + a.severity, dataset: { alert: a.name } },
      el('span', { class: 'sev', text: a.severity }),
      el('span', { class: 'sum', text: a.summary }),
      el('span', { class: 'desc', text: a.description }))));
    box.classList.toggle('hidden', list.length === 0);
  }

  // ---------- live stream ----------
  function live(cls, text) {
    $('live').className = 'live ' + cls;
    $('live-text').textContent = text;
  }

  function connect() {
    if (state.ws) return;
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws');
    state.ws = ws;
    live('', 'connecting');
    ws.onopen = () => { state.retry = 0; live('on', 'live'); state.watching = ''; syncWatch(); };
    ws.onmessage = m => onMessage(JSON.parse(m.data));
    ws.onclose = () => {
      state.ws = null;
      live('off', 'reconnecting');
      const wait = Math.min(15000, 500 * 2 ** state.retry++) * (0.8 + Math.random() * 0.4);
      setTimeout(async () => {
        try { await api('GET', '/api/v1/me'); connect(); } catch (_) { /* login shown */ }
      }, wait);
    };
  }

  // minerQuery is the page of the miners table the controls ask for; the server filters, sorts
  // and pages, and sends the page again only when it changed.
  function minerQuery() {
    return {
      offset: state.minerPage * PAGE_ROWS, limit: PAGE_ROWS, sort: state.sort.key, order: state.sort.asc ? 'asc' : 'desc',
      q: $('m-filter').value.trim(), state: $('m-state').value, group: $('m-group').value,
    };
  }
  const queryKey = q => q ? [q.offset, q.limit, q.sort, q.order, q.q, q.state, q.group].join('\u0000') : '';

  function syncWatch() {
    const want = state.page === 'miners' ? queryKey(minerQuery()) : '';
    if (state.ws?.readyState === WebSocket.OPEN && want !== state.watching) {
      state.ws.send(JSON.stringify(want ? { type: 'watch', workers: true, page: minerQuery() } : { type: 'watch', workers: false }));
      state.watching = want;
      if (!want) { state.workers.clear(); state.minerCount = null; }
    }
  }

  // takePage keeps a page of the miners table if it answers the query followed now (a page
  // for the previous query may still be on its way).
  // rowKey names a row: its connection id, or for an offline worker (no connection) its name.
  const rowKey = w => w.id ? String(w.id) : 'offline:' + w.worker;

  function takePage(p) {
    if (!p || queryKey(p.query) !== state.watching) return;
    state.workers = new Map(p.workers.map(w => [rowKey(w), w]));
    state.minerCount = { total: p.total, matched: p.matched };
  }

  function onMessage(m) {
    switch (m.type) {
      case 'snapshot':
        state.version = m.version;
        state.overview = m.overview;
        state.history = m.history || [];
        state.pools = m.pools || [];
        state.policy = m.policy;
        state.events = (m.events || []).slice(-300);
        break;
      case 'delta':
        if (m.version !== state.version + 1) { state.ws?.close(); return; } // missed one: resync
        state.version = m.version;
        state.overview = m.overview;
        state.history.push(m.point);
        if (state.history.length > 600) state.history.splice(0, state.history.length - 600);
        if (m.pools) state.pools = m.pools;
        if (m.policy) state.policy = m.policy;
        if (m.events?.length) {
          state.events.push(...m.events);
          if (state.events.length > 300) state.events.splice(0, state.events.length - 300);
          if (state.page === 'events') { state.eventLog.unshift(...m.events.slice().reverse()); }
        }
        takePage(m.page);
        break;
      case 'page':
        takePage(m.page);
        break;
      case 'error':
        toast(m.error, true);
        return;
      default:
        return;
    }
    render();
  }

  // ---------- routing ----------
  function route() {
    const page = (location.hash || '#overview').slice(1).split('/')[0];
    state.page = ['overview', 'miners', 'pools', 'policy', 'events', 'energy', 'site'].includes(page) ? page : 'overview';
    for (const s of document.querySelectorAll('.page')) s.classList.toggle('hidden', s.id !== 'page-' + state.page);
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === state.page);
    if (state.page !== 'miners') $('detail').classList.add('hidden');
    if (state.page === 'events') loadEvents();
    syncWatch();
    render();
  }
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', () => render());

  function render() {
    if (!state.overview) return;
    renderTop();
    if (state.page === 'overview') renderOverview();
    else if (state.page === 'miners') renderMiners();
    else if (state.page === 'pools') renderPools();
    else if (state.page === 'policy') renderPolicy();
    else if (state.page === 'events') renderEvents();
  }

  function renderTop() {
    const o = state.overview;
    document.title = `hashgate · ${hashrate(o.hashrate_hs)}`;
  }

  // ---------- overview ----------
  function renderOverview() {
    const o = state.overview, s = o.site;
    setText('v-import', s ? kw(s.import_kw) : '–');
    setText('v-limit', s ? `limit ${kw(s.limit_kw)} kW` : 'no power policy');
    const pct = s && s.limit_kw > 0 ? Math.min(100, 100 * s.import_kw / s.limit_kw) : 0;
    $('b-import').style.width = pct + '%';
    $('b-import').classList.toggle('hot', pct > 97);
    setText('v-ai', s ? kw(s.ai_load_kw) : '–');
    setText('v-nonmining', s ? `non-mining ${kw(s.non_mining_kw)} kW` : '–');
    setText('v-mining', s ? kw(s.mining_load_kw) : '–');
    setText('v-budget', s ? `budget ${kw(s.budget_kw)} kW` : '–');
    setText('v-hashrate', hashrate(o.hashrate_hs));
    $('v-hashrate').title = 'running miners now; all counted shares: ' + windows(o);
    setText('v-pool', o.active_pool ? `via ${o.active_pool} · ${o.pools_up}/${o.pools} pools up` : 'no pool up');
    setText('v-accepted', compact(o.accepted));
    setText('v-rejected', 'rejected ' + rejectedPct(o.accepted, o.rejected));
    setText('v-miners', int(o.miners.total));
    setText('v-states', `${o.miners.running} run · ${o.miners.paused} paused · ${o.miners.throttled} throttled`);
    const mode = $('why-mode');
    if (s) {
      mode.textContent = s.mode.replace('_', ' ');
      mode.className = 'badge ' + s.mode;
      setText('why-text', `${s.why}${s.faults.length ? ' · faulty meters: ' + s.faults.join(', ') : ''}`);
    } else {
      mode.textContent = 'proxy only';
      mode.className = 'badge';
      setText('why-text', 'No power policy is configured: every miner mines.');
    }

    const h = state.history;
    $('chart-power').dataset.points = h.length;
    const pts = k => h.map(p => [p.t, p[k]]);
    const power = s ? [
      { label: 'site import', color: COLORS.import, data: pts('import_kw'), width: 2.2 },
      { label: 'limit', color: COLORS.limit, data: pts('limit_kw'), dash: true },
      { label: 'AI load', color: COLORS.ai, data: pts('ai_kw') },
      { label: 'mining', color: COLORS.mining, data: pts('mining_kw'), fill: true },
      { label: 'mining budget', color: COLORS.budget, data: pts('budget_kw'), dash: true },
    ] : [];
    if (!$('legend-power').childElementCount) HGChart.legend($('legend-power'), power);
    HGChart.draw($('chart-power'), { series: power, format: v => kw(v) + ' kW', empty: s ? 'waiting for data…' : 'no power policy configured' });

    const hs = [{ label: 'hashrate', color: COLORS.hash, data: pts('hashrate_hs'), fill: true }];
    if (!$('legend-hash').childElementCount) HGChart.legend($('legend-hash'), hs);
    HGChart.draw($('chart-hash'), { series: hs, format: hashrate });

    const rate = k => {
      const out = [];
      for (let i = 1; i < h.length; i++) {
        const dt = (h[i].t - h[i - 1].t) / 60000;
        if (dt > 0) out.push([h[i].t, Math.max(0, h[i][k] - h[i - 1][k]) / dt]);
      }
      return smooth(out, 5);
    };
    const sh = [
      { label: 'accepted', color: COLORS.acc, data: rate('accepted'), fill: true },
      { label: 'rejected', color: COLORS.rej, data: rate('rejected') },
    ];
    if (!$('legend-shares').childElementCount) HGChart.legend($('legend-shares'), sh);
    HGChart.draw($('chart-shares'), { series: sh, format: v => compact(v) });

    renderEventList($('overview-events'), state.events.slice(-8).reverse());
  }

  function smooth(pts, n) {
    return pts.map((p, i) => {
      const w = pts.slice(Math.max(0, i - n + 1), i + 1);
      return [p[0], w.reduce((a, q) => a + q[1], 0) / w.length];
    });
  }

  function renderEventList(ul, evs) {
    if (!evs.length) { ul.replaceChildren(el('li', { class: 'muted' }, el('span'), el('span'), 'No events yet.')); return; }
    ul.replaceChildren(...evs.map(e => el('li', { class: e.level },
      timeEl(e.at), el('span', { class: 'kind', text: e.kind }),
      el('span', { class: 'txt' }, e.text, e.actor ? el('span', { class: 'actor', text: '  · ' + e.actor }) : null))));
  }

  // ---------- miners ----------
  const NUMERIC = new Set(['hashrate_hs', 'difficulty', 'accepted', 'rejected', 'power_kw', 'last_seen_ms']);
  for (const th of document.querySelectorAll('#miners-table th[data-sort]')) {
    th.addEventListener('click', () => {
      const k = th.dataset.sort;
      state.sort = { key: k, asc: state.sort.key === k ? !state.sort.asc : !NUMERIC.has(k) };
      state.minerPage = 0;
      syncWatch();
      render();
    });
  }
  for (const id of ['m-filter', 'm-state', 'm-group']) $(id).addEventListener('input', () => { state.minerPage = 0; syncWatch(); render(); });
  $('m-prev').addEventListener('click', () => { state.minerPage = Math.max(0, state.minerPage - 1); syncWatch(); render(); });
  $('m-next').addEventListener('click', () => { state.minerPage++; syncWatch(); render(); });

  function renderMiners() {
    const groups = (state.policy?.groups || []).map(g => g.name).sort();
    const gsel = $('m-group');
    if (gsel.options.length - 1 !== groups.length) {
      const cur = gsel.value;
      gsel.replaceChildren(el('option', { value: '', text: 'All groups' }), ...groups.map(g => el('option', { value: g, text: g })));
      gsel.value = cur;
    }
    const { key, asc } = state.sort;
    for (const th of document.querySelectorAll('#miners-table th[data-sort]')) {
      th.classList.toggle('sorted', th.dataset.sort === key);
      th.classList.toggle('asc', th.dataset.sort === key && asc);
    }
    const n = state.minerCount;
    const rows = [...state.workers.values()];
    const pages = Math.max(1, Math.ceil((n?.matched ?? 0) / PAGE_ROWS));
    if (state.minerPage > pages - 1) { state.minerPage = pages - 1; syncWatch(); } // the page went past the end
    setText('m-count', n ? `${int(n.matched)} of ${int(n.total)} workers` : 'loading…');
    setText('m-page', `page ${state.minerPage + 1} / ${pages}`);
    $('m-prev').disabled = state.minerPage === 0;
    $('m-next').disabled = state.minerPage >= pages - 1;
    const body = $('miners-body');
    if (!rows.length) {
      body.replaceChildren(el('tr', null, el('td', { colspan: 12, class: 'empty', text: !n ? 'Loading…' : n.total ? 'No worker matches the filter.' : 'No miners connected.' })));
    } else {
      patch(body, rows, rowKey, w => el('tr', { class: 'clickable', dataset: { id: rowKey(w) }, onclick: () => openDetail(w) },
        el('td', { class: 'mono', title: w.remote }, w.worker ? el('input', { type: 'checkbox', class: 'sel admin-only', 'aria-label': 'select ' + w.worker,
          checked: state.selected.has(w.worker), onclick: e => e.stopPropagation(), onchange: e => select([w.worker], e.target.checked) }) : null,
          w.worker || '(unauthorized)'),
        el('td', { class: 'badges' }, ...gateBadges(w)),
        el('td', { text: w.group || '–' }),
        rateCell(w, w.state === 'paused'),
        el('td', { class: 'num', text: diff(w.difficulty) }),
        el('td', { class: 'num', text: int(w.accepted) }),
        el('td', { class: 'num', text: int(w.rejected) }),
        el('td', { class: 'rej' }, ...rejects(w.rejects)),
        el('td', { text: w.pool || '–' }),
        el('td', { text: w.firmware || '–' }),
        el('td', { class: 'num', text: w.power_kw ? kw(w.power_kw) + ' kW' : '–' }),
        agoCell(w.last_seen_ms, 'num')));
    }
    renderSelection();
    if (state.detail != null) renderDetail();
  }

  // ---------- bulk actions on selected miners (by worker name, kept across pages) ----------
  const BULK_MAX = 200; // the server's bound on one request
  function select(names, on) {
    for (const n of names) on ? state.selected.add(n) : state.selected.delete(n);
    renderSelection();
  }
  function renderSelection() {
    const names = [...state.workers.values()].map(w => w.worker).filter(Boolean);
    for (const cb of document.querySelectorAll('#miners-body input.sel')) cb.checked = state.selected.has(cb.closest('tr').querySelector('td').textContent);
    $('m-all').checked = names.length > 0 && names.every(n => state.selected.has(n));
    setText('m-selected', `${int(state.selected.size)} selected`);
    $('m-pause').disabled = $('m-resume').disabled = $('m-clear').disabled = state.selected.size === 0;
    for (const b of document.querySelectorAll('#m-bulk .needs-sel')) b.disabled = state.selected.size === 0;
  }
  $('m-all').addEventListener('change', e => select([...state.workers.values()].map(w => w.worker).filter(Boolean), e.target.checked));
  $('m-clear').addEventListener('click', () => { state.selected.clear(); renderSelection(); });
  async function bulk(action, verb) {
    const names = [...state.selected];
    let done = 0;
    const failed = [];
    $('control-error').textContent = '';
    try {
      for (let i = 0; i < names.length; i += BULK_MAX) {
        const r = await api('POST', '/api/v1/workers/bulk', { action, workers: names.slice(i, i + BULK_MAX) });
        done += r.done;
        failed.push(...r.results.filter(x => !x.ok).map(x => `${x.worker}: ${x.error}`));
      }
    } catch (e) {
      failed.push(e.message);
    }
    const msg = `${verb} ${int(done)} worker${done === 1 ? '' : 's'}` + (failed.length ? `; failed: ${failed.join('; ')}` : '');
    $('control-error').textContent = failed.length ? msg : '';
    toast(msg, failed.length > 0);
  }
  // miner.js sends the firmware actions (locate, reboot, power profile) to the same selection.
  window.HGMiners = { selected: () => [...state.selected] };
  $('m-pause').addEventListener('click', () => bulk('pause', 'Paused'));
  $('m-resume').addEventListener('click', () => bulk('resume', 'Resumed'));

  // gateBadges are the worker's state, why its gate is closed ("held: policy, operator") and,
  // for a worker the policy controls, whether it counts as a miner.
  function gateBadges(w) {
    const out = [badge(w.state)];
    if (w.holds?.length) out.push(badge('held: ' + w.holds.join(', '), 'held'));
    if (w.power_source && !w.proven) out.push(badge('unproven', 'unproven'));
    return out;
  }
  const PROOF = {
    share: 'yes: a recent valid share',
    firmware: 'yes: its firmware answered recently',
    held: 'yes: held (a held miner cannot submit shares)',
  };

  function rejects(r) {
    const parts = [['stale', r.stale], ['dup', r.duplicate], ['low', r.low_difficulty], ['inv', r.invalid], ['pool', r.pool_rejected], ['paused', r.paused]].filter(p => p[1]);
    if (!parts.length) return ['–'];
    return parts.flatMap(([k, n], i) => [i ? ' · ' : '', k + ' ', el('b', { text: int(n) })]);
  }

  async function openDetail(row) {
    const id = rowKey(row);
    state.detail = id;
    state.detailRow = null;
    $('detail').classList.remove('hidden');
    document.dispatchEvent(new CustomEvent('hg:worker', { detail: null })); // miner.js clears the last one
    renderDetail();
    try {
      const d = await api('GET', '/api/v1/workers/' + (row.id || encodeURIComponent(row.worker)));
      if (state.detail !== id) return;
      state.detailRow = d.worker;
      renderDetail();
      renderDecisions($('d-decisions'), d.decisions);
      document.dispatchEvent(new CustomEvent('hg:worker', { detail: d })); // miner.js: hardware, history
    } catch (e) {
      $('d-decisions').replaceChildren(el('li', { class: 'muted' }, el('span'), e.message));
    }
  }
  $('d-close').addEventListener('click', () => { state.detail = null; $('detail').classList.add('hidden'); });

  function renderDetail() {
    const w = state.workers.get(state.detail) || (state.detailRow && rowKey(state.detailRow) === state.detail ? state.detailRow : null);
    if (!w) { setText('d-title', 'Disconnected'); return; }
    setText('d-title', w.worker || '(unauthorized)');
    const f = [['State', w.state], ['Gate', w.holds?.length ? 'held: ' + w.holds.join(', ') : 'open'],
      ['Proven', w.power_source ? (PROOF[w.proof] || 'no: no valid share or firmware answer within the proven window; the policy gives it no power') : 'not controlled by the policy'],
      ['Group', w.group || '–'], ['Firmware', w.firmware || '–'], ['Pool', w.pool || '–'],
      ['Hashrate', w.state === 'paused' ? 'paused' : hashrate(w.hashrate_hs)],
      ['Hashrate windows', w.state === 'paused' ? 'paused' : windows(w)], ['Difficulty', diff(w.difficulty)], ['Accepted', int(w.accepted)],
      ['Rejected', `${int(w.rejected)}  (stale ${int(w.rejects.stale)} · duplicate ${int(w.rejects.duplicate)} · low diff ${int(w.rejects.low_difficulty)} · invalid ${int(w.rejects.invalid)} · pool ${int(w.rejects.pool_rejected)} · paused ${int(w.rejects.paused)})`],
      ['Power', w.power_kw ? kw(w.power_kw) + ' kW' : '–'], ['Rated', w.rated_kw ? kw(w.rated_kw) + ' kW' : '–'],
      ['Remote', w.remote], ['Protocol', w.protocol], ['User agent', w.user_agent || '–'],
      ...(w.state === 'offline' ? [['Offline since', when(w.offline_since_ms)], ['Last seen', w.last_seen_ms ? ago(w.last_seen_ms) : 'not in this run']]
        : [['Connected', when(w.connected_ms)], ['Last seen', ago(w.last_seen_ms)], ['Connection', '#' + w.id]])];
    $('d-fields').replaceChildren(...f.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
    $('d-pause').onclick = () => control('POST', `/api/v1/workers/${encodeURIComponent(w.worker)}/pause`, undefined, `Paused ${w.worker}`);
    $('d-resume').onclick = () => control('POST', `/api/v1/workers/${encodeURIComponent(w.worker)}/resume`, undefined, `Resumed ${w.worker}`);
  }

  function renderDecisions(ul, ds) {
    if (!ds?.length) { ul.replaceChildren(el('li', { class: 'muted' }, el('span'), 'No decisions recorded.')); return; }
    ul.replaceChildren(...ds.map(d => el('li', null, timeEl(d.at),
      el('span', null, badge(d.action), ` ${d.miner} → ${kw(d.target_kw)} kW: ${d.why}`))));
  }

  // ---------- pools ----------
  function renderPools() {
    const body = $('pools-body');
    if (!state.pools.length) { body.replaceChildren(el('tr', null, el('td', { colspan: 13, class: 'empty', text: 'No pools configured.' }))); return; }
    // The role is part of the row (so the row is rebuilt when a second pool appears).
    const many = state.pools.length > 1;
    const rows = state.pools.map((p, i) => ({ ...p, role: many ? (i === 0 ? 'primary' : 'backup') : '' }));
    patch(body, rows, p => p.name, p => {
      const bar = el('div', { class: 'split' }, el('div'));
      bar.firstChild.style.width = Math.min(100, p.split_pct) + '%';
      return el('tr', null,
        el('td', null, el('div', { text: p.name }), el('div', { class: 'muted mono', text: p.url })),
        el('td', null, badge(p.state), p.reason ? el('div', { class: 'muted', text: p.reason }) : null,
          p.worker_names === 'pool_user' ? el('div', { class: 'muted', text: 'shares under the pool user: ' + p.worker_names_reason }) : null,
          p.unknown || p.unforwarded ? el('div', { class: 'muted', text: `unanswered ${int(p.unknown)} · not forwarded ${int(p.unforwarded)}` }) : null),
        el('td', null, ...poolRole(p)),
        el('td', { class: 'num', text: p.priority }),
        el('td', { class: 'num', text: p.connections }),
        el('td', { class: 'num', text: diff(p.difficulty) }),
        el('td', { class: 'num', text: p.state !== 'up' ? '–' : p.latency_ms < 1 ? '<1 ms' : p.latency_ms.toFixed(0) + ' ms' }),
        el('td', { class: 'num', text: int(p.accepted) }),
        el('td', { class: 'num', text: rejectedPct(p.accepted, p.rejected) }),
        el('td', { class: 'num', text: int(p.stale) }),
        rateCell(p, false),
        el('td', null, el('div', { class: 'split-row' }, bar, el('span', { class: 'muted', text: p.split_pct.toFixed(0) + '%' }))),
        p.last_job ? agoCell(Date.parse(p.last_job), 'muted') : el('td', { class: 'muted', text: 'never' }));
    });
  }

  // poolRole labels a pool by priority order (primary, backup: pools arrive in that order)
  // only when there are several; the one carrying the miners is active, any other standby.
  function poolRole(p) {
    const now = p.active ? badge('active') : badge('standby', 'paused');
    const out = p.role ? [badge(p.role, 'connecting'), ' ', now] : [now];
    // An operator's switch (Manage pools) holds the miners here whatever the priority.
    if (p.forced) out.push(' ', badge('switched', 'connecting'));
    return out;
  }

  // ---------- policy ----------
  $('cap-form').addEventListener('submit', ev => {
    ev.preventDefault();
    control('PUT', '/api/v1/policy/cap', { kw: +$('cap-kw').value, minutes: +$('cap-min').value }, 'Cap set');
  });
  $('cap-clear').addEventListener('click', () => control('DELETE', '/api/v1/policy/cap', undefined, 'Cap cleared'));
  $('dr-form').addEventListener('submit', ev => {
    ev.preventDefault();
    const start = new Date($('dr-start').value);
    const end = new Date(start.getTime() + $('dr-min').value * 60000);
    control('POST', '/api/v1/dr', { start: start.toISOString(), end: end.toISOString(), target_kw: +$('dr-kw').value }, 'Demand-response event scheduled');
  });
  function defaultDRStart() {
    const d = new Date(Date.now() + 3600e3);
    d.setMinutes(0, 0, 0);
    const p = n => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  $('dr-start').value = defaultDRStart();

  function renderPolicy() {
    const p = state.policy;
    $('policy-off').classList.toggle('hidden', !!p?.enabled);
    $('policy-on').classList.toggle('hidden', !p?.enabled);
    if (!p?.enabled) return;
    const s = p.site;
    const mode = $('p-mode');
    mode.textContent = s.mode.replace('_', ' ');
    mode.className = 'badge ' + s.mode;
    setText('p-why', s.why);
    const f = [['Import', kw(s.import_kw) + ' kW'], ['Limit', kw(s.limit_kw) + ' kW'], ['AI load', kw(s.ai_load_kw) + ' kW'],
      ['Non-mining', kw(s.non_mining_kw) + ' kW'], ['Mining', kw(s.mining_load_kw) + ' kW'], ['Budget', kw(s.budget_kw) + ' kW'],
      ['Committed', kw(s.committed_kw) + ' kW'], ['Mining estimate', kw(s.mining_est_kw) + ' kW'],
      ['Shed in flight', kw(s.in_flight_kw) + ' kW'], ['Unconfirmed draw', kw(s.unconfirmed_kw) + ' kW'], ['Binding', s.binding],
      ['Over the limit for', s.mode === 'over_limit' ? int(s.over_limit_s) + ' s' : '—'],
      ['Faults', s.faults.length ? s.faults.join(', ') : 'none'], ['Steps', int(p.steps)], ['Applied / failed', `${int(p.applied)} / ${int(p.apply_failed)}`]];
    $('p-basis').replaceChildren(...f.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
    setText('cap-state', p.cap_until ? `Cap of ${kw(p.cap_kw)} kW in force until ${when(p.cap_until)}.` : 'No cap in force.');
    const dl = $('dr-list');
    dl.replaceChildren(...p.dr.map(d => el('li', null, badge(d.active ? 'active' : 'scheduled', d.active ? 'warn' : 'connecting'),
      el('span', { class: 'grow', text: `${d.id}: import ≤ ${kw(d.target_kw)} kW, ${when(d.start)} → ${clock(d.end)}` }),
      el('button', { class: 'btn btn-sm admin-only', type: 'button', text: 'Cancel',
        onclick: () => control('DELETE', '/api/v1/dr/' + encodeURIComponent(d.id), undefined, 'Event cancelled') }))));

    const gb = $('groups-body');
    if (!p.groups.length) gb.replaceChildren(el('tr', null, el('td', { colspan: 12, class: 'empty', text: 'No fleet groups configured.' })));
    else patch(gb, p.groups, g => g.name, g => el('tr', { dataset: { group: g.name } },
      el('td', { text: g.name }), el('td', { text: g.firmware }), el('td', { class: 'mono', text: g.match }),
      el('td', { class: 'num', text: g.priority }), el('td', { class: 'num', text: g.miners }),
      el('td', { class: 'num', text: g.running }), el('td', { class: 'num', text: g.paused }), el('td', { class: 'num', text: g.throttled }),
      el('td', { class: 'num', text: kw(g.power_kw) + ' kW' }), rateCell(g, g.paused_by_operator || (g.miners > 0 && g.paused === g.miners)),
      el('td', null, g.paused_by_operator ? badge('paused') : badge('auto', 'ok')),
      el('td', { class: 'admin-only' }, g.paused_by_operator
        ? el('button', { class: 'btn btn-sm', type: 'button', text: 'Resume', dataset: { action: 'resume' },
          onclick: () => control('POST', `/api/v1/groups/${encodeURIComponent(g.name)}/resume`, undefined, `Resumed ${g.name}`) })
        : el('button', { class: 'btn btn-sm btn-warn', type: 'button', text: 'Pause', dataset: { action: 'pause' },
          onclick: () => control('POST', `/api/v1/groups/${encodeURIComponent(g.name)}/pause`, undefined, `Paused ${g.name}`) }))));

    const timeline = [...p.recent.map(d => ({ at: d.at, level: 'info', kind: 'policy.decision', text: `${d.action} ${d.miner} → ${kw(d.target_kw)} kW: ${d.why}` })),
      ...state.events.filter(e => e.kind !== 'policy.decision')].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, 80);
    renderEventList($('p-decisions'), timeline);

    const mb = $('meters-body');
    if (!p.meters.length) mb.replaceChildren(el('tr', null, el('td', { colspan: 5, class: 'empty', text: 'No meters configured.' })));
    else mb.replaceChildren(...p.meters.map(m => el('tr', null,
      el('td', { text: m.name }), el('td', { text: m.role }),
      el('td', { class: 'num', text: m.role === 'frequency' ? m.value.toFixed(3) + ' Hz' : m.role === 'price' ? m.value.toFixed(2) : kw(m.value) + ' kW' }),
      agoCell(m.at && !m.at.startsWith('0001') ? Date.parse(m.at) : 0, 'num'),
      el('td', null, m.stale ? badge('stale', 'bad') : !m.trusted && m.quality === 'good' ? badge('rejected by policy', 'bad')
        : badge(m.quality, m.quality === 'good' ? 'ok' : 'warn')))));
  }

  // ---------- events ----------
  async function loadEvents() {
    try {
      const r = await api('GET', '/api/v1/events?limit=500');
      state.eventLog = r.events;
      state.eventSource = r.source === 'store' ? 'from the audit store' : 'recent, in memory (no store configured)';
      renderEvents();
    } catch (_) { /* shown on next render */ }
  }
  for (const id of ['e-filter', 'e-level']) $(id).addEventListener('input', () => renderEvents());

  function renderEvents() {
    const q = $('e-filter').value.trim().toLowerCase(), lvl = $('e-level').value;
    setText('e-source', state.eventSource);
    const evs = state.eventLog.filter(e => (!lvl || e.level === lvl) &&
      (!q || (e.text + ' ' + e.kind + ' ' + (e.subject || '') + ' ' + (e.actor || '')).toLowerCase().includes(q))).slice(0, 500);
    const body = $('events-body');
    if (!evs.length) { body.replaceChildren(el('tr', null, el('td', { colspan: 5, class: 'empty', text: 'No events.' }))); return; }
    body.replaceChildren(...evs.map(e => el('tr', { class: e.level === 'warn' ? 'warn' : '' },
      el('td', { class: 'mono', text: when(e.at) }), el('td', { class: 'mono', text: e.kind }),
      el('td', { text: e.subject || '–' }), el('td', { text: e.text }), el('td', { class: 'mono', text: e.actor || 'system' }))));
  }

  boot();
})();
