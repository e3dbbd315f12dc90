'use strict';
// The Energy page: the per-minute energy series as a chart, the daily report per group and
// for the site, and links to the CSV exports. Like app.js it puts every server value in the
// DOM through textContent (group and worker names are operator and miner input).
(() => {
  const $ = id => document.getElementById(id);
  const SERIES_DAYS = 7, EXPORT_DAYS = 31;
  const COLORS = { import: '#4ea1ff', mining: '#f5b546', budget: '#3ecf8e', shed: '#ff6b6b', group: '#b48cff' };
  let series = null, loading = 0;

  const day = d => d.toISOString().slice(0, 10);
  const addDays = (s, n) => { const d = new Date(s + 'T00:00:00Z'); d.setUTCDate(d.getUTCDate() + n); return day(d); };
  const daysIn = (from, to) => Math.round((Date.parse(to + 'T00:00:00Z') - Date.parse(from + 'T00:00:00Z')) / 864e5) + 1;
  const n = (v, d = 2) => (v == null || !Number.isFinite(v)) ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  function td(text, cls) { const e = document.createElement('td'); e.textContent = text; if (cls) e.className = cls; return e; }
  function row(cells) { const tr = document.createElement('tr'); tr.append(...cells); return tr; }

  function range() {
    const to = $('en-to').value || day(new Date());
    const from = $('en-from').value || addDays(to, -6);
    return { from, to };
  }

  // links points the download buttons at the range (at most 31 days) and the worker.
  function links() {
    const { from, to } = range();
    const worker = $('en-worker').value.trim();
    const ok = daysIn(from, to) >= 1 && daysIn(from, to) <= EXPORT_DAYS;
    for (const kind of ['decisions', 'events', 'energy', 'shares']) {
      const a = $('en-dl-' + kind);
      const q = new URLSearchParams({ from, to });
      if (worker && kind !== 'energy') q.set('worker', worker);
      if (ok) a.href = `/api/v1/export/${kind}.csv?${q}`;
      else a.removeAttribute('href');
      a.classList.toggle('disabled', !ok);
    }
    $('en-export-note').textContent = ok ? `${from} to ${to} (UTC)` + (worker ? `, worker ${worker} (decisions, events, shares)` : '')
      : `exports cover at most ${EXPORT_DAYS} days`;
  }

  async function get(path) {
    const res = await fetch(path, { credentials: 'same-origin' });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(data?.error || res.statusText);
    return data;
  }

  async function load() {
    const { from, to } = range();
    const group = $('en-group').value;
    links();
    if (daysIn(from, to) < 1) { $('en-status').textContent = 'the last day is before the first'; return; }
    const seq = ++loading;
    $('en-status').textContent = 'loading…';
    const q = new URLSearchParams({ from, to });
    if (group) q.set('group', group);
    const sFrom = daysIn(from, to) > SERIES_DAYS ? addDays(to, -(SERIES_DAYS - 1)) : from;
    const sq = new URLSearchParams({ from: sFrom, to });
    if (group) sq.set('group', group);
    try {
      const [report, raw] = await Promise.all([get('/api/v1/energy/report?' + q), get('/api/v1/energy?' + sq)]);
      if (seq !== loading) return;
      series = raw;
      renderReport(report, group);
      $('en-chart-note').textContent = sFrom === from ? '' : `The chart shows the last ${SERIES_DAYS} days of the range.`;
      drawChart();
      $('en-status').textContent = '';
    } catch (e) {
      if (seq === loading) $('en-status').textContent = 'not available: ' + e.message;
    }
  }

  function renderReport(rep, group) {
    const groups = new Set();
    const gRows = [], sRows = [];
    for (const d of rep.days) {
      for (const g of d.groups) {
        groups.add(g.group);
        const samples = g.measured_samples + g.estimated_samples;
        gRows.push(row([td(d.day), td(g.group), td(n(g.mining_kwh, 3), 'num'),
          td(samples ? Math.round(100 * g.measured_samples / samples) + '%' : '–', 'num'),
          td(n(g.shed_kwh, 3), 'num'), td(n(g.curtailed_minutes, 0), 'num'), td(n(g.curtail_events, 0), 'num'),
          td(rep.price_unit && g.priced_kwh > 0 ? n(g.cost, 2) : '–', 'num')]));
      }
      sRows.push(row([td(d.day), td(n(d.site.import_kwh, 3), 'num'), td(n(d.site.mining_kwh, 3), 'num'), td(n(d.site.ai_kwh, 3), 'num'),
        td(n(d.site.budget_kwh, 3), 'num'), td(n(d.site.minutes, 0), 'num'), td(n(d.accepted_difficulty, 0), 'num'),
        td(n(d.revenue_btc, 8), 'num')]));
    }
    const empty = cols => [row([Object.assign(td('no records in this range', 'muted'), { colSpan: cols })])];
    $('energy-groups').replaceChildren(...(gRows.length ? gRows : empty(8)));
    $('energy-site').replaceChildren(...(sRows.length ? sRows : empty(8)));
    $('en-price').textContent = rep.price_unit ? `cost in ${rep.price_unit.split('/')[0]} (price meter ${rep.price_unit})` : 'no price meter: no cost';
    // The group list grows with what the reports name; the selection is kept.
    const sel = $('en-group');
    const have = new Set([...sel.options].map(o => o.value));
    for (const g of [...groups].sort()) if (!have.has(g)) sel.append(Object.assign(document.createElement('option'), { value: g, textContent: g }));
    sel.value = group;
  }

  // drawChart plots kW (each minute's kWh over its length): site import, mining and budget,
  // and the selected group's (or all groups') mining and shed power.
  function drawChart() {
    const c = $('chart-energy');
    if (!series || typeof HGChart === 'undefined' || c.offsetParent === null) return;
    const kW = (kwh, s) => s > 0 ? kwh * 3600 / s : 0;
    const t = x => Date.parse(x.start);
    const sum = new Map(), shed = new Map();
    for (const g of series.groups) {
      const k = t(g);
      sum.set(k, (sum.get(k) || 0) + kW(g.mining_kwh, g.length_s));
      shed.set(k, (shed.get(k) || 0) + kW(g.shed_kwh, g.length_s));
    }
    const group = $('en-group').value || 'groups';
    const sets = [
      { label: 'import kW', color: COLORS.import, data: series.site.map(s => [t(s), kW(s.import_kwh, s.length_s)]) },
      { label: 'mining kW (meter)', color: COLORS.mining, data: series.site.map(s => [t(s), kW(s.mining_kwh, s.length_s)]) },
      { label: 'budget kW', color: COLORS.budget, dash: [4, 4], data: series.site.map(s => [t(s), kW(s.budget_kwh, s.length_s)]) },
      { label: group + ' mined kW', color: COLORS.group, data: [...sum].sort((a, b) => a[0] - b[0]) },
      { label: group + ' shed kW', color: COLORS.shed, data: [...shed].sort((a, b) => a[0] - b[0]) },
    ].filter(s => s.data.length);
    HGChart.draw(c, { series: sets, format: v => v.toFixed(1), empty: 'no energy recorded in this range' });
    $('legend-energy').replaceChildren();
    HGChart.legend($('legend-energy'), sets);
  }

  function show() {
    if (location.hash !== '#energy') return;
    if (!$('en-to').value) {
      const to = day(new Date());
      $('en-to').value = to;
      $('en-from').value = addDays(to, -6);
    }
    load();
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const id of ['en-from', 'en-to', 'en-group']) $(id).addEventListener('change', load);
    $('en-worker').addEventListener('input', links);
    window.addEventListener('hashchange', show);
    window.addEventListener('resize', drawChart);
    // The page may be opened before sign-in finishes: load once the app is shown.
    new MutationObserver(() => { if (!$('app').classList.contains('hidden')) show(); })
      .observe($('app'), { attributes: true, attributeFilter: ['class'] });
    show();
  });
})();
