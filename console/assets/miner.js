'use strict';
// The miner detail's hardware and hashrate history, and the firmware actions on miners:
// locate LED, reboot and power profile, for the worker in the drawer or the selected ones
// (POST /api/v1/workers/bulk; admin only, hidden for viewers like every .admin-only part).
// app.js tells it which worker the drawer shows (hg:worker events) and which are selected
// (HGMiners.selected). Like app.js it puts every server value in the DOM through textContent:
// worker names are miner input.
(() => {
  const $ = id => document.getElementById(id);
  const BULK_MAX = 200; // the server's bound on one request
  let me = null, worker = '', windowName = '1h', timer = 0, armed = null;

  async function api(method, path, body) {
    if (method !== 'GET' && !me) me = await api('GET', '/api/v1/me');
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && me?.csrf_token) headers['X-CSRF-Token'] = me.csrf_token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(data?.error || `${res.status} ${res.statusText}`);
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function hashrate(h) {
    if (!h) return '0 H/s';
    const u = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];
    let i = 0;
    while (h >= 1000 && i < u.length - 1) { h /= 1000; i++; }
    return (h >= 100 ? h.toFixed(0) : h >= 10 ? h.toFixed(1) : h.toFixed(2)) + ' ' + u[i];
  }
  const num = (v, d, unit) => v == null ? null : v.toFixed(d) + unit;
  function uptime(s) {
    if (s == null) return null;
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
  }
  function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (bad ? ' bad' : '');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.add('hidden'), 3500);
  }

  // ---------- hardware ----------
  function renderHardware(hw) {
    const dl = $('d-hw');
    if (!hw) {
      dl.replaceChildren(el('dt', 'Firmware'), el('dd', 'not controlled: no [[fleet]] group with a firmware matches this worker'));
      return;
    }
    const rows = [['Firmware', hw.firmware || '–'],
      ['Firmware state', hw.read_ms ? hw.state : 'no answer yet'],
      ['Power', num(hw.power_w, 0, ' W')], ['Power target', num(hw.power_target_w, 0, ' W')],
      ['Power profile', hw.power_profile_w ? hw.power_profile_w + ' W (ceiling)' : 'none'],
      ['Hashrate (firmware)', hw.hashrate_ths == null ? null : hw.hashrate_ths.toFixed(1) + ' TH/s'],
      ['Efficiency', num(hw.j_per_th, 1, ' J/TH')],
      ['Board temperature', num(hw.board_temp_c, 1, ' °C')], ['Chip temperature', num(hw.chip_temp_c, 1, ' °C')],
      ['Fans', hw.fans_rpm?.length ? hw.fans_rpm.map(r => r + ' rpm').join(' · ') : null],
      ['Hashboards', hw.boards_total == null ? null : `${hw.boards_working} of ${hw.boards_total} working`],
      ['Uptime', uptime(hw.uptime_s)],
      ['Last poll', hw.polled_ms ? new Date(hw.polled_ms).toLocaleTimeString() + (hw.poll_error ? ' (failed: ' + hw.poll_error + ')' : '') : 'not polled yet'],
      ['Commands', hw.controllable ? 'reachable'
        : hw.unvouched ? "withheld: its address is outside its group's networks (readings not trusted)"
        : 'not reachable (shared IP or not connected)']];
    dl.replaceChildren(...rows.filter(r => r[1] != null).flatMap(([k, v]) => {
      const dd = el('dd', v);
      dd.dataset.field = k;
      return [el('dt', k), dd];
    }));
  }

  async function refresh() {
    const w = worker;
    if (!w) return;
    try {
      const d = await api('GET', '/api/v1/workers/' + encodeURIComponent(w));
      if (w === worker) renderHardware(d.hardware);
    } catch (e) { /* the drawer shows app.js's error */ }
  }

  // ---------- history ----------
  async function history() {
    const w = worker, win = windowName;
    if (!w) return;
    for (const b of document.querySelectorAll('#d-hist-tabs button')) b.classList.toggle('active', b.dataset.window === win);
    const canvas = $('d-hist');
    try {
      const h = await api('GET', `/api/v1/workers/${encodeURIComponent(w)}/hashrate?window=${win}`);
      if (w !== worker || win !== windowName) return;
      canvas.dataset.points = String(h.points.length);
      canvas.dataset.nonzero = String(h.points.filter(p => p.hashrate_hs > 0).length);
      HGChart.draw(canvas, { series: [{ label: 'hashrate', color: '#4ea1ff', fill: true, data: h.points.map(p => [p.at_ms, p.hashrate_hs]) }],
        format: hashrate, empty: 'no shares in this window' });
      $('d-hist-note').textContent = `${h.points.length} steps of ${h.step_s >= 3600 ? h.step_s / 3600 + ' h' : h.step_s / 60 + ' min'}, from accepted shares`;
    } catch (e) {
      $('d-hist-note').textContent = e.message;
    }
  }
  for (const b of document.querySelectorAll('#d-hist-tabs button')) {
    b.addEventListener('click', () => { windowName = b.dataset.window; history(); });
  }

  document.addEventListener('hg:worker', e => {
    const d = e.detail;
    const w = d?.worker?.worker || '';
    clearInterval(timer);
    worker = w;
    if (!w) {
      $('d-hw').replaceChildren();
      $('d-hist-note').textContent = '';
      delete $('d-hist').dataset.points;
      delete $('d-hist').dataset.nonzero;
      HGChart.draw($('d-hist'), { series: [], empty: 'loading…' });
      return;
    }
    renderHardware(d.hardware);
    history();
    timer = setInterval(() => { if ($('detail').classList.contains('hidden')) { clearInterval(timer); worker = ''; return; } refresh(); }, 10000);
  });

  // ---------- firmware actions ----------
  async function send(action, names, extra, verb) {
    let done = 0, deferred = 0;
    const failed = [];
    $('control-error').textContent = '';
    try {
      for (let i = 0; i < names.length; i += BULK_MAX) {
        const r = await api('POST', '/api/v1/workers/bulk', { action, workers: names.slice(i, i + BULK_MAX), ...extra });
        done += r.done;
        deferred += r.results.filter(x => x.deferred).length;
        failed.push(...r.results.filter(x => !x.ok).map(x => `${x.worker}: ${x.error}`));
      }
    } catch (e) {
      failed.push(e.message);
    }
    const msg = `${verb} ${done} worker${done === 1 ? '' : 's'}` + (deferred ? ` (${deferred} when they run again)` : '') +
      (failed.length ? `; failed: ${failed.join('; ')}` : '');
    $('m-fw-result').textContent = msg;
    $('control-error').textContent = failed.length ? msg : '';
    toast(msg, failed.length > 0);
    if (worker && names.includes(worker)) refresh();
  }
  const selected = () => window.HGMiners ? window.HGMiners.selected() : [];

  // A reboot takes a second click within 5 s: it stops the miners' hashing for minutes.
  function confirmFirst(btn, label, go) {
    btn.addEventListener('click', () => {
      if (armed === btn) {
        clearTimeout(btn._t);
        armed = null;
        btn.textContent = label;
        go();
        return;
      }
      if (armed) { armed.textContent = armed._label; clearTimeout(armed._t); }
      armed = btn;
      btn._label = label;
      btn.textContent = 'Confirm: ' + label.toLowerCase();
      btn._t = setTimeout(() => { if (armed === btn) { armed = null; btn.textContent = label; } }, 5000);
    });
  }

  $('m-locate-on').addEventListener('click', () => send('locate_on', selected(), {}, 'Locate LED on for'));
  $('m-locate-off').addEventListener('click', () => send('locate_off', selected(), {}, 'Locate LED off for'));
  confirmFirst($('m-reboot'), 'Reboot selected', () => send('reboot', selected(), {}, 'Rebooted'));
  $('m-profile').addEventListener('click', () => {
    const w = Number($('m-profile-w').value);
    if (!Number.isInteger(w) || w < 0) { toast('a power profile is a whole number of watts (0 clears it)', true); return; }
    send('power_profile', selected(), { watts: w }, w ? `Power profile ${w} W for` : 'Cleared the power profile of');
  });
  $('d-locate-on').addEventListener('click', () => worker && send('locate_on', [worker], {}, 'Locate LED on for'));
  $('d-locate-off').addEventListener('click', () => worker && send('locate_off', [worker], {}, 'Locate LED off for'));
  confirmFirst($('d-reboot'), 'Reboot', () => worker && send('reboot', [worker], {}, 'Rebooted'));
})();
