'use strict';
// The Site page: every instance of the site (GET /api/v1/site) and every instance's miners
// (GET /api/v1/site/workers, a page at a time), with pause and resume carried to the instance
// that owns each worker (POST /api/v1/site/workers/bulk, admin only). The nav link is added
// only once /api/v1/site answers: an instance that is not part of a site shows no Site page. Like app.js it puts every
// server value in the DOM through textContent: names come from other instances and miners.
(() => {
  const $ = id => document.getElementById(id);
  const LIMIT = 100;
  let me = null, timer = 0, offset = 0, total = 0;
  const selected = new Set();

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && me?.csrf_token) headers['X-CSRF-Token'] = me.csrf_token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    const data = await res.json().catch(() => null);
    if (!res.ok) { const e = new Error(data?.error || `${res.status} ${res.statusText}`); e.status = res.status; throw e; }
    return data;
  }
  function td(text, cls) { const e = document.createElement('td'); e.textContent = text; if (cls) e.className = cls; return e; }
  function ago(t) {
    const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
    return s < 90 ? `${s.toFixed(0)} s ago` : `${(s / 60).toFixed(0)} min ago`;
  }

  function renderInstances(site) {
    $('site-summary').textContent = `site ${site.site} · this console: ${site.instance} · leader ${site.leader || 'none'} · epoch ${site.epoch}`;
    $('site-instance').replaceChildren(new Option('All instances', ''), ...site.instances.map(i => new Option(i.name, i.name)));
    $('site-instance').value = filterInstance;
    $('site-instances').replaceChildren(...site.instances.map(i => {
      const name = td('');
      if (i.console_url && /^https?:\/\//.test(i.console_url)) {
        const a = document.createElement('a');
        a.href = i.console_url; a.textContent = i.name; a.rel = 'noopener noreferrer'; a.target = '_blank';
        name.append(a);
      } else name.textContent = i.name;
      if (i.self) name.append(' (this console)');
      const role = td(i.role, 'role-' + i.role);
      const health = td(i.stale ? 'not heard' : i.healthy ? 'healthy' : 'unhealthy' + (i.health ? ': ' + i.health : ''), i.healthy && !i.stale ? 'ok' : 'bad');
      const tr = document.createElement('tr');
      tr.dataset.instance = i.name;
      tr.append(name, role, td(String(i.epoch), 'num'), health, td(ago(i.last_heard)), td(String(i.miners), 'num'),
        td(String(i.workers), 'num'), td(String(i.paused), 'num'));
      return tr;
    }));
  }
  let filterInstance = '';

  function renderMiners(page) {
    total = page.total;
    $('site-miners').replaceChildren(...page.rows.map(m => {
      const tr = document.createElement('tr');
      tr.dataset.worker = m.worker;
      const box = document.createElement('input');
      box.type = 'checkbox'; box.checked = selected.has(m.worker); box.setAttribute('aria-label', 'select ' + m.worker);
      box.disabled = !m.worker;
      box.addEventListener('change', () => { box.checked ? selected.add(m.worker) : selected.delete(m.worker); selection(); });
      const sel = td(''); sel.append(box);
      const held = m.operator_hold ? 'paused by operator' : m.commanded?.action || '';
      tr.append(sel, td(m.worker || m.id), td(m.instance + (m.stale ? ' (not heard)' : '')), td(m.group),
        td(String(m.rated_kw), 'num'), td(held));
      return tr;
    }));
    const pages = Math.max(1, Math.ceil(total / LIMIT));
    $('site-page').textContent = `${total} miners · page ${Math.floor(offset / LIMIT) + 1} / ${pages}`;
    $('site-prev').disabled = offset === 0;
    $('site-next').disabled = offset + LIMIT >= total;
  }

  function selection() {
    $('site-selected').textContent = selected.size ? `${selected.size} selected` : '';
    $('site-pause').disabled = $('site-resume').disabled = selected.size === 0;
  }

  function navLink(on) {
    const a = $('nav-site');
    if (on && !a) {
      const l = document.createElement('a');
      l.href = '#site'; l.dataset.page = 'site'; l.id = 'nav-site'; l.textContent = 'Site';
      l.classList.toggle('active', location.hash === '#site');
      $('nav').append(l);
    } else if (!on && a) a.remove();
  }

  async function load() {
    clearTimeout(timer);
    if ($('app').classList.contains('hidden')) return;
    try {
      if (!me) me = await api('GET', '/api/v1/me');
      const site = await api('GET', '/api/v1/site');
      navLink(true);
      if (location.hash !== '#site') { timer = setTimeout(load, 5000); return; }
      renderInstances(site);
      const q = new URLSearchParams({ offset: String(offset), limit: String(LIMIT) });
      if (filterInstance) q.set('instance', filterInstance);
      const search = $('site-q').value.trim();
      if (search) q.set('q', search);
      renderMiners(await api('GET', '/api/v1/site/workers?' + q));
      $('site-error').textContent = '';
    } catch (e) {
      if (e.status === 404) { navLink(false); return; } // not part of a site
      $('site-error').textContent = e.message;
    }
    timer = setTimeout(load, 2000);
  }

  async function act(action) {
    const workers = [...selected].slice(0, 200);
    $('site-pause').disabled = $('site-resume').disabled = true;
    try {
      const r = await api('POST', '/api/v1/site/workers/bulk', { action, workers });
      const failed = r.results.filter(x => !x.ok).map(x => `${x.worker}: ${x.error}`);
      $('site-status').textContent = `${action}: ${r.done} done on their instances` + (r.failed ? `, ${r.failed} failed (${failed.join('; ')})` : '');
      for (const x of r.results) if (x.ok) selected.delete(x.worker);
    } catch (e) {
      $('site-status').textContent = `${action} refused: ${e.message}`;
    }
    selection();
    load();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('site-pause').addEventListener('click', () => act('pause'));
    $('site-resume').addEventListener('click', () => act('resume'));
    $('site-prev').addEventListener('click', () => { offset = Math.max(0, offset - LIMIT); load(); });
    $('site-next').addEventListener('click', () => { if (offset + LIMIT < total) offset += LIMIT; load(); });
    $('site-instance').addEventListener('change', () => { filterInstance = $('site-instance').value; offset = 0; load(); });
    $('site-q').addEventListener('input', () => { offset = 0; load(); });
    window.addEventListener('hashchange', load);
    new MutationObserver(() => { me = null; if (!$('app').classList.contains('hidden')) load(); })
      .observe($('app'), { attributes: true, attributeFilter: ['class'] });
    selection();
    load();
  });
})();
