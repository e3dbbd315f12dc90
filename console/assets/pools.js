'use strict';
// The pools page's controls: add, edit, remove, reorder and switch pools through
// /api/v1/pools (admin only; hidden for viewers like every .admin-only part). Like app.js it
// puts every server value in the DOM through textContent: pool names and urls are operator
// input.
(() => {
  const $ = id => document.getElementById(id);
  let me = null, pools = [], editing = '', timer = 0, busy = false;

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && me?.csrf_token) headers['X-CSRF-Token'] = me.csrf_token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(data?.error || `${res.status} ${res.statusText}`);
    return data;
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  const badge = (text, cls) => el('span', { class: 'badge ' + (cls || text), text });
  const path = name => '/api/v1/pools/' + encodeURIComponent(name);

  function say(msg, bad) {
    $('pool-error').textContent = bad ? msg : '';
    $('pool-status').textContent = bad ? '' : msg;
  }

  // act runs one change, shows its error or result, and reloads the rows.
  async function act(method, url, body, done) {
    if (busy) return;
    busy = true;
    try {
      await api(method, url, body);
      say(done, false);
      return true;
    } catch (e) {
      say(e.message, true);
      return false;
    } finally {
      busy = false;
      load();
    }
  }

  function move(name, by) {
    const names = pools.map(p => p.name);
    const i = names.indexOf(name), j = i + by;
    if (i < 0 || j < 0 || j >= names.length) return;
    [names[i], names[j]] = [names[j], names[i]];
    act('POST', '/api/v1/pools/reorder', { names }, `Moved ${name} ${by < 0 ? 'up' : 'down'}`);
  }

  // A removal takes two clicks: the first arms the button for a few seconds.
  function remove(btn, name) {
    if (btn.dataset.armed !== '1') {
      btn.dataset.armed = '1';
      btn.textContent = 'Confirm remove';
      setTimeout(() => { btn.dataset.armed = ''; btn.textContent = 'Remove'; }, 4000);
      return;
    }
    act('DELETE', path(name), undefined, `Removed ${name}`);
  }

  function startEdit(p) {
    editing = p.name;
    $('pool-name').value = p.name;
    $('pool-name').readOnly = true;
    $('pool-url').value = p.url;
    $('pool-user').value = p.user;
    $('pool-password').value = '';
    $('pool-password').placeholder = 'unchanged';
    $('pool-priority').value = p.priority;
    $('pool-weight').value = p.weight;
    $('pool-submit').textContent = 'Save ' + p.name;
    $('pool-cancel').hidden = false;
    say('', false);
    $('pool-url').focus();
  }

  function resetForm() {
    editing = '';
    $('pool-form').reset();
    $('pool-name').readOnly = false;
    $('pool-password').placeholder = '';
    $('pool-submit').textContent = 'Add pool';
    $('pool-cancel').hidden = true;
  }

  $('pool-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    const url = $('pool-url').value.trim(), user = $('pool-user').value.trim(), password = $('pool-password').value;
    const prio = $('pool-priority').value === '' ? undefined : Number($('pool-priority').value);
    const weight = $('pool-weight').value === '' ? undefined : Number($('pool-weight').value);
    let ok;
    if (editing) {
      const p = pools.find(x => x.name === editing);
      const body = {};
      if (!p || url !== p.url) body.url = url;
      if (!p || user !== p.user) body.user = user;
      if (password) body.password = password;
      if (prio !== undefined && (!p || prio !== p.priority)) body.priority = prio;
      if (weight !== undefined && (!p || weight !== p.weight)) body.weight = weight;
      if (!Object.keys(body).length) { say('Nothing changed.', false); return; }
      ok = await act('PUT', path(editing), body, `Saved ${editing}`);
    } else {
      const body = { name: $('pool-name').value.trim(), url, user };
      if (password) body.password = password;
      if (prio !== undefined) body.priority = prio;
      if (weight !== undefined) body.weight = weight;
      ok = await act('POST', '/api/v1/pools', body, `Added ${body.name}`);
    }
    if (ok) resetForm();
  });
  $('pool-cancel').addEventListener('click', () => { resetForm(); say('', false); });

  function render() {
    const body = $('pool-admin-body');
    if (!pools.length) { body.replaceChildren(el('tr', null, el('td', { colspan: 4, class: 'empty', text: 'No pools.' }))); return; }
    body.replaceChildren(...pools.map((p, i) => {
      const btn = (kind, text, onclick, extra) => el('button', { class: 'btn btn-sm', type: 'button', 'data-act': kind, 'data-pool': p.name, text, onclick, ...extra });
      const switchBtn = p.forced
        ? btn('release', 'Release', () => act('DELETE', path(p.name) + '/switch', undefined, `Miners follow priority again`))
        : btn('switch', 'Switch to', () => act('POST', path(p.name) + '/switch', undefined, `Miners switched to ${p.name}`),
          { disabled: p.state !== 'up', title: p.state !== 'up' ? 'down: ' + (p.reason || '') : 'mine on this pool until released' });
      return el('tr', { 'data-pool': p.name },
        el('td', null, el('div', { text: p.name }), el('div', { class: 'muted mono', text: p.url + ' · ' + p.user })),
        el('td', null, badge(p.state), ' ', p.active ? badge('active') : null, ' ', p.forced ? badge('switched', 'connecting') : null),
        el('td', { class: 'num', 'data-label': 'priority', text: String(p.priority) }),
        el('td', null, el('div', { class: 'pool-actions' },
          btn('up', '↑', () => move(p.name, -1), { disabled: i === 0, 'aria-label': 'move ' + p.name + ' up' }),
          btn('down', '↓', () => move(p.name, 1), { disabled: i === pools.length - 1, 'aria-label': 'move ' + p.name + ' down' }),
          switchBtn,
          btn('edit', 'Edit', () => startEdit(p)),
          btn('remove', 'Remove', ev => remove(ev.currentTarget, p.name), { disabled: pools.length === 1, title: pools.length === 1 ? 'the last pool cannot be removed' : null }))));
    }));
    const f = pools.find(p => p.forced);
    $('pool-forced').textContent = f ? `Miners switched to ${f.name} until released or it fails` : 'Miners follow priority: the lowest healthy priority mines';
  }

  async function load() {
    clearTimeout(timer);
    if (location.hash !== '#pools' || $('app').classList.contains('hidden')) return;
    try {
      if (!me) me = await api('GET', '/api/v1/me');
      // Only what the rows show: the counters and hashrate move every second, and a row
      // rebuilt under the pointer would swallow a click (or disarm a removal).
      const rows = (await api('GET', '/api/v1/pools')).map(p => ({ name: p.name, url: p.url, user: p.user, priority: p.priority, weight: p.weight || 0,
        state: p.state, reason: p.reason, active: p.active, forced: p.forced }));
      if (!busy && JSON.stringify(rows) !== JSON.stringify(pools)) { pools = rows; render(); }
    } catch (e) {
      $('pool-error').textContent = e.message;
    }
    timer = setTimeout(load, 1000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', load);
    // Signing in again may be as someone else: forget the CSRF token with the session.
    new MutationObserver(() => { me = null; if (!$('app').classList.contains('hidden')) load(); })
      .observe($('app'), { attributes: true, attributeFilter: ['class'] });
    load();
  });
})();
