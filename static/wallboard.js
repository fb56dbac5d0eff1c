// Wallboard: keeps the page live from the /events WebSocket. It applies the
// snapshot and each change, ticks the call timers every second, reconnects
// with backoff and resumes where it left off (?since=SEQ&epoch=EPOCH), and
// offers admins the call-control actions each call's source lists.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const boot = JSON.parse($('wallboard-data').textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  const state = {
    calls: new Map(),   // id -> call
    sources: new Map(), // name -> status
    recent: boot.recent || [],
    epoch: '',
    seq: 0,
    // Server clock minus ours, so a wall screen with a wrong clock still
    // shows right timers.
    skew: Date.parse(boot.now) - Date.now(),
  };

  // ---- rendering -------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k) e.append(k);
    return e;
  }

  const cap = (s) => (s ? s[0].toUpperCase() + s.slice(1) : '');
  const dirLabel = (d) => ({ inbound: 'in', outbound: 'out', internal: 'internal' }[d] || d || '');
  const num = (p) => (p && p.number) || (p && p.private ? 'withheld' : 'unknown');
  const partyText = (p) => (p && p.name ? `${num(p)} (${p.name})` : num(p));
  const isZero = (t) => !t || t.startsWith('0001-01-01');

  function fmtSeconds(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }
  // In the server's display zone (static/time.js), as the pages the
  // server renders show it, not in the browser's zone.
  function fmtTime(t) {
    if (isZero(t)) return '';
    return SwitchboardTime.when(t, Date.now() + state.skew);
  }
  const timerStart = (c) => (isZero(c.answered) ? c.started : c.answered);
  const elapsed = (since) => fmtSeconds((Date.now() + state.skew - Date.parse(since)) / 1000);
  const missed = (c) => c.state === 'ended' && isZero(c.answered) && c.direction === 'inbound';

  function callActions(c) {
    if (!boot.admin) return [];
    const src = state.sources.get(c.source);
    const offered = (src && src.actions) || [];
    return ['hangup', 'transfer'].filter((a) => offered.includes(a));
  }

  function party(testid, p) {
    return el('div', { class: 'party', 'data-testid': testid },
      el('span', { class: 'num', text: num(p) }),
      p && p.name ? el('span', { class: 'name', text: p.name }) : null);
  }

  function callCard(c) {
    const since = timerStart(c);
    const acts = callActions(c);
    return el('li', {
      class: `call state-${c.state}`, 'data-testid': 'call', 'data-id': c.id, 'data-state': c.state, 'data-source': c.source,
    },
      el('div', { class: 'call-top' },
        el('span', { class: 'state', 'data-testid': 'call-state', text: cap(c.state) }),
        el('span', { class: 'dir', 'data-testid': 'call-direction', text: dirLabel(c.direction) }),
        el('span', { class: 'timer', 'data-testid': 'call-timer', 'data-since': since, text: elapsed(since) })),
      el('div', { class: 'parties' },
        party('call-from', c.from), el('span', { class: 'arrow', 'aria-hidden': 'true', text: '→' }), party('call-to', c.to)),
      el('div', { class: 'call-meta' },
        c.line ? el('span', { class: 'line', 'data-testid': 'call-line', text: c.line }) : null,
        el('span', { class: 'src', 'data-testid': 'call-source', text: c.source })),
      acts.length ? el('div', { class: 'actions' }, ...acts.map((a) =>
        el('button', { type: 'button', 'data-action': a, 'data-testid': `call-${a}`, text: a === 'hangup' ? 'Hang up' : 'Transfer' }))) : null);
  }

  function sourceItem(s) {
    const up = ['connected', 'resyncing', 'registered'].includes(s.state);
    return el('li', {
      class: `source link-${s.state}${up ? ' up' : ''}`, 'data-testid': 'source', 'data-name': s.name, 'data-state': s.state,
    },
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'name', text: s.name }),
      el('span', { class: 'sstate', 'data-testid': 'source-state', text: s.state }),
      isZero(s.since) ? null : el('span', { class: 'since', text: `since ${fmtTime(s.since)}` }),
      s.error ? el('span', { class: 'serr', 'data-testid': 'source-error', text: s.error }) : null);
  }

  function recentRow(c) {
    return el('tr', { class: missed(c) ? 'missed' : '', 'data-testid': 'recent-call', 'data-id': c.id },
      el('td', { text: fmtTime(c.started) }),
      el('td', { text: dirLabel(c.direction) }),
      el('td', { text: partyText(c.from) }),
      el('td', { text: partyText(c.to) }),
      el('td', { class: 'num', text: fmtSeconds(c.duration || 0) }),
      el('td', { text: c.reason || '' }));
  }

  function renderCalls() {
    const calls = [...state.calls.values()].sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
    $('calls').replaceChildren(...calls.map(callCard));
    $('active-count').textContent = String(calls.length);
  }
  function renderSources() {
    const list = [...state.sources.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    $('sources').replaceChildren(...list.map(sourceItem));
    const form = $('originate');
    if (form) {
      const names = list.filter((s) => (s.actions || []).includes('originate')).map((s) => s.name);
      const sel = form.elements.source;
      const keep = sel.value;
      sel.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
      if (names.includes(keep)) sel.value = keep;
      form.hidden = names.length === 0;
    }
  }
  function renderRecent() {
    $('recent').replaceChildren(...state.recent.map(recentRow));
  }

  function tick() {
    for (const t of document.querySelectorAll('[data-since]')) t.textContent = elapsed(t.dataset.since);
  }

  // ---- status and errors ----------------------------------------------

  const connLabels = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };
  function setConn(s, detail) {
    const c = $('conn');
    c.dataset.state = s;
    c.textContent = connLabels[s] + (detail ? ` (${detail})` : '');
  }
  function showError(msg) {
    const box = $('errors');
    box.append(el('p', { text: msg }));
    while (box.children.length > 3) box.firstChild.remove();
    setTimeout(() => { if (box.firstChild) box.firstChild.remove(); }, 15000);
  }

  // ---- events ------------------------------------------------------------

  function apply(msg) {
    switch (msg.type) {
      case 'snapshot':
        state.epoch = msg.epoch;
        state.seq = msg.seq;
        if (msg.now) state.skew = Date.parse(msg.now) - Date.now();
        state.calls = new Map(msg.calls.map((c) => [c.id, c]));
        state.sources = new Map(msg.sources.map((s) => [s.name, s]));
        renderSources(); renderCalls();
        return;
      case 'call': {
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        const c = msg.call;
        if (c.state === 'ended') {
          state.calls.delete(c.id);
          state.recent = [c, ...state.recent.filter((r) => r.id !== c.id)].slice(0, boot.limit || 50);
          renderRecent();
        } else {
          state.calls.set(c.id, c);
        }
        renderCalls();
        return;
      }
      case 'source':
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        state.sources.set(msg.source.name, msg.source);
        renderSources(); renderCalls();
        return;
      default:
        if (msg.seq > state.seq) state.seq = msg.seq;
    }
  }

  let ws = null, attempt = 0, retryTimer = 0;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/events`;
    if (state.epoch) url += `?since=${state.seq}&epoch=${encodeURIComponent(state.epoch)}`;
    setConn(attempt === 0 ? 'connecting' : 'reconnecting');
    ws = new WebSocket(url);
    ws.onopen = () => { attempt = 0; setConn('live'); };
    ws.onmessage = (e) => {
      try { apply(JSON.parse(e.data)); } catch (err) { showError(`Bad message from the server: ${err.message}`); }
    };
    ws.onclose = (e) => {
      ws = null;
      if (e.reason === 'session expired') { location.href = '/login?next=/'; return; }
      if (e.code === 1008 && e.reason === 'too slow') showError('The connection was too slow and was reset; catching up.');
      // 1001 (going away): the server is shutting down or restarting.
      if (e.code === 1001) showError('The server is restarting or shutting down; the wallboard reconnects by itself.');
      scheduleReconnect();
    };
  }
  async function scheduleReconnect() {
    attempt++;
    // Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … 15 s.
    const delay = Math.min(15000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() / 2);
    setConn(attempt > 3 ? 'offline' : 'reconnecting', `retry in ${Math.round(delay / 1000)} s`);
    if (attempt > 1) {
      // A failed handshake hides its status: ask the API whether we are
      // still signed in.
      try {
        const r = await fetch('/api/calls', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
        if (r.status === 401) { location.href = '/login?next=/'; return; }
      } catch (_) { /* offline: keep trying */ }
    }
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  // ---- call control (admins) ---------------------------------------------

  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
    return data;
  }

  $('calls').addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-action]');
    if (!btn) return;
    const id = btn.closest('[data-id]').dataset.id;
    const c = state.calls.get(id);
    const who = c ? `${num(c.from)} → ${num(c.to)}` : id;
    try {
      if (btn.dataset.action === 'hangup') {
        if (!confirm(`Hang up ${who}?`)) return;
        await post(`/api/calls/${encodeURIComponent(id)}/hangup`);
      } else if (btn.dataset.action === 'transfer') {
        const to = prompt(`Transfer ${who} to number:`);
        if (!to) return;
        await post(`/api/calls/${encodeURIComponent(id)}/transfer`, { to: to.trim() });
      }
    } catch (err) {
      showError(`${cap(btn.dataset.action)} failed: ${err.message}`);
    }
  });

  const form = $('originate');
  if (form) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = form.elements;
      try {
        await post('/api/originate', { source: f.source.value, from: f.from.value.trim(), to: f.to.value.trim() });
        f.to.value = '';
      } catch (err) {
        showError(`Call failed: ${err.message}`);
      }
    });
  }
  const wallBtn = $('wall-link');
  if (wallBtn) {
    wallBtn.addEventListener('click', async () => {
      try {
        const r = await post('/api/wall-links');
        const out = $('wall-link-url');
        out.value = r.url;
        out.title = `Works once, until ${fmtTime(r.expires)}`;
        out.hidden = false;
        out.select();
      } catch (err) {
        showError(`Wall-screen link failed: ${err.message}`);
      }
    });
  }

  renderRecent();
  setInterval(tick, 1000);
  connect();
})();
