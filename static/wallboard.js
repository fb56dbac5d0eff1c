// Wallboard: keeps the page live from the /events WebSocket and the
// figures of the day from /api/today. It applies the snapshot and each
// change, ticks the call timers and the kiosk clock every second,
// reconnects with backoff and resumes where it left off
// (?since=SEQ&epoch=EPOCH), asks for the figures again when a call ends
// and every 30 s, and makes a stale screen look stale: when the server
// cannot be reached, or a source is down, a banner says so with since
// when and the cards are dimmed. Admins get the call-control actions
// each call's source lists.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const boot = JSON.parse($('wallboard-data').textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  const kiosk = !!boot.kiosk;
  const zone = boot.zone || SwitchboardTime.zone;
  const SVG = 'http://www.w3.org/2000/svg';
  if (boot.view === 'queues') { queueView(); return; }

  const state = {
    calls: new Map(),   // id -> call
    sources: new Map(), // name -> status
    today: boot.today,
    // Ended calls seen on /events that /api/today did not list yet.
    ended: new Map(),
    epoch: '',
    seq: 0,
    // Server clock minus ours, so a wall screen with a wrong clock still
    // shows right timers.
    skew: Date.parse(boot.now) - Date.now(),
    // Since when (server ms) the socket is down, and since when the
    // figures could not be fetched; null while fine.
    socketLost: null,
    fetchLost: null,
    signedOut: false,
  };
  const serverNow = () => Date.now() + state.skew;

  // ---- words, numbers and times --------------------------------------

  // Words from the server's catalogue in the page's language
  // (static/i18n.js); the clock is 24-hour in every language.
  const T = SwitchboardI18n.t;
  const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone });
  const dateParts = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'numeric', timeZone: zone });
  const weekdays = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
  // kioskDate is the kiosk's date line as web/wallviews.go dateText.
  function kioskDate(now) {
    const p = {};
    for (const x of dateParts.formatToParts(now)) p[x.type] = x.value;
    return T('format.kiosk_date', { Weekday: T(`format.weekday${weekdays[p.weekday]}`), Day: Number(p.day), Month: T(`format.month${Number(p.month)}`) });
  }
  const dayFmt = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: zone });
  const isZero = (t) => !t || t.startsWith('0001-01-01');
  const dayOf = (t) => dayFmt.format(new Date(t)); // YYYY-MM-DD in the display zone

  function fmtSeconds(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }
  // In the server's display zone (static/time.js), in the same forms as
  // the pages the server renders, never in the browser's zone.
  function fmtTime(t) {
    if (isZero(t)) return '';
    return SwitchboardTime.when(t, serverNow());
  }
  const timerStart = (c) => (isZero(c.answered) ? c.started : c.answered);
  const elapsed = (since) => fmtSeconds((serverNow() - Date.parse(since)) / 1000);
  const num = (p) => (p && p.number) || (p && p.private ? T('party.withheld') : T('party.unknown'));
  const dirWord = (d) => (['inbound', 'outbound', 'internal'].includes(d) ? T(`direction.${d}`) : d || '');
  const stateWord = (s) => (['ringing', 'dialing', 'connected', 'held'].includes(s) ? T(`state.${s}`) : s || '');
  const linkWord = (s) => (['connecting', 'connected', 'resyncing', 'down', 'stopped', 'registering', 'registered', 'failed', 'retrying'].includes(s) ? T(`link.${s}`) : s || '');
  const sourceUp = (s) => ['connected', 'resyncing', 'registered'].includes(s.state);
  // A source that is down in earnest (not still connecting at start).
  const sourceDown = (s) => ['down', 'stopped', 'failed', 'retrying'].includes(s.state);

  // resultOf says how a call ended: the same table as resultOf in
  // web/wallviews.go.
  function resultOf(c) {
    const answered = !isZero(c.answered);
    const inbound = c.direction === 'inbound';
    switch (c.reason) {
      case 'completed': return { word: 'answered', kind: 'answered' };
      case 'no-answer': case 'cancelled':
        return inbound ? { word: 'missed', kind: 'missed' } : { word: 'no answer', kind: 'noanswer' };
      case 'busy': return { word: 'busy', kind: 'busy' };
      case 'rejected': return { word: 'declined', kind: 'declined' };
      case 'abandoned': return { word: 'abandoned', kind: 'abandoned' };
      case 'answered-elsewhere': return { word: 'answered elsewhere', kind: 'elsewhere' };
      case 'failed': return answered ? { word: 'answered', kind: 'answered' } : { word: 'failed', kind: 'failed' };
    }
    if (answered) return { word: 'answered', kind: 'answered' };
    if (inbound) return { word: 'missed', kind: 'missed' };
    return { word: 'ended', kind: 'ended' };
  }
  const missed = (c) => c.state === 'ended' && isZero(c.answered) && c.direction === 'inbound' && c.reason !== 'answered-elsewhere';

  // ---- rendering -------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k);
    return e;
  }
  const icon = (cls, title) => el('span', { class: `icon ${cls}`, title, 'aria-hidden': 'true' });
  const numEl = (tag, text, attrs) => el(tag, { class: 'num', 'data-num': true, text, ...(attrs || {}) });

  function callActions(c) {
    if (!boot.admin) return [];
    const src = state.sources.get(c.source);
    const offered = (src && src.actions) || [];
    return ['hangup', 'transfer'].filter((a) => offered.includes(a));
  }

  // A number too long for a card's big type gets type that fits the card
  // (longNumber in web/wallviews.go).
  const longNumber = (n) => [...n].length > 13;
  function party(testid, p) {
    return el('div', { class: 'party', 'data-testid': testid },
      numEl('span', num(p), { class: longNumber(num(p)) ? 'num long' : 'num' }),
      p && p.name ? el('span', { class: 'name', text: p.name }) : null);
  }

  function callCard(c) {
    const since = timerStart(c);
    const acts = callActions(c);
    return el('li', {
      class: `call state-${c.state} src-${c.source}`, 'data-testid': 'call', 'data-id': c.id, 'data-state': c.state,
      'data-source': c.source, 'data-started': c.started,
    },
      el('div', { class: 'call-top' },
        el('span', { class: 'state', 'data-testid': 'call-state', text: stateWord(c.state) }),
        el('span', { class: 'dir', 'data-testid': 'call-direction' }, icon(`dir-${c.direction}`), dirWord(c.direction)),
        numEl('span', elapsed(since), { class: 'timer num', 'data-testid': 'call-timer', 'data-since': since })),
      party('call-from', c.from),
      el('div', { class: 'call-to' }, el('span', { class: 'arrow', 'aria-hidden': 'true', text: '→' }), party('call-to', c.to)),
      el('div', { class: 'call-meta' },
        c.line ? el('span', { class: 'line', 'data-testid': 'call-line', text: c.line }) : null,
        el('span', { class: 'src', 'data-testid': 'call-source', text: c.source })),
      acts.length ? el('div', { class: 'actions' }, ...acts.map((a) =>
        el('button', { type: 'button', 'data-action': a, 'data-testid': `call-${a}`, text: T(`action.${a}`) }))) : null);
  }

  function sourceItem(s) {
    return el('li', {
      class: `source link-${s.state}${sourceUp(s) ? ' up' : ''}`, 'data-testid': 'source', 'data-name': s.name, 'data-state': s.state,
    },
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'name', text: s.name }),
      el('span', { class: 'sstate', 'data-testid': 'source-state', text: linkWord(s.state) }),
      // In a cluster, the node that connects the source (absent alone).
      s.node ? el('span', { class: 'snode', 'data-testid': 'source-node', 'data-node': s.node, text: T('wallboard.via', { Node: s.node }) }) : null,
      isZero(s.since) ? null : el('span', { class: 'since', text: T('wallboard.since', { Since: fmtTime(s.since) }) }),
      s.error ? el('span', { class: 'serr', 'data-testid': 'source-error', text: s.error }) : null);
  }

  function partyCell(p) {
    return [numEl('span', num(p)), p && p.name ? el('span', { class: 'name', text: p.name }) : null];
  }

  function recentRow(c) {
    const res = resultOf(c);
    return el('tr', {
      class: missed(c) ? 'missed' : '', 'data-testid': 'recent-call', 'data-id': c.id, 'data-started': c.started, 'data-result': res.kind,
    },
      numEl('td', fmtTime(c.started), { class: 'c-time num' }),
      el('td', { class: 'c-dir', 'data-testid': 'recent-direction' }, icon(`dir-${c.direction}`, dirWord(c.direction)), el('span', { class: 'sr', text: dirWord(c.direction) })),
      el('td', { class: 'c-from' }, ...partyCell(c.from)),
      el('td', { class: 'c-to' }, ...partyCell(c.to)),
      numEl('td', fmtSeconds(c.duration || 0), { class: 'c-talk num' }),
      el('td', { class: `c-res res-${res.kind}`, 'data-testid': 'recent-result' }, icon(`res-${res.kind}`), T(`result.${res.kind}`)));
  }

  // An embed view of some lines only (/embed/calls?line= or ?mine=1)
  // lists the calls on those lines.
  const lines = Array.isArray(boot.lines) ? new Set(boot.lines) : null;
  function renderCalls() {
    const calls = [...state.calls.values()].filter((c) => !lines || lines.has(c.line)).sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
    $('calls').replaceChildren(...calls.map(callCard));
    $('active-count').textContent = String(calls.length);
    markStale();
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
    $('per-source').hidden = list.length < 2 && state.today.sources.length < 2;
  }

  // recentCalls is the day's list: what the server listed, with the ended
  // calls seen since that it did not list yet, by start, newest first.
  function recentCalls() {
    const byID = new Map(state.today.recent.map((c) => [c.id, c]));
    for (const [id, c] of state.ended) {
      if (byID.has(id)) state.ended.delete(id);
      else if (dayOf(c.started) === state.today.date) byID.set(id, c);
      else state.ended.delete(id);
    }
    return [...byID.values()]
      .sort((a, b) => Date.parse(b.started) - Date.parse(a.started) || (a.id < b.id ? 1 : -1))
      .slice(0, state.today.limit || 50);
  }
  function renderRecent() {
    const list = recentCalls();
    $('recent').replaceChildren(...list.map(recentRow));
    $('recent-empty').hidden = list.length > 0;
    fitLists();
  }

  // fitLists shows, on a wall screen, as much as fits and no part of
  // anything: a list its style sheet clips (overflow hidden) loses the
  // items that would reach past its bottom, whole, and says how many it
  // shows. Elsewhere the page scrolls and everything is shown.
  function fitLists() {
    fit($('recent').closest('.recent-panel'), [...$('recent').rows], $('recent-shown'), (n) => T('js.wall.latest', { Count: n }));
    fit($('calls'), [...$('calls').children], $('active-more'), (n, all) => T('js.wall.more', { Count: all - n }));
  }
  function fit(box, items, label, say) {
    for (const it of items) it.hidden = false;
    label.textContent = '';
    if (!box || getComputedStyle(box).overflowY !== 'hidden' || !items.length) return;
    const bottom = box.getBoundingClientRect().bottom - parseFloat(getComputedStyle(box).paddingBottom);
    let shown = items.length;
    for (let i = items.length - 1; i >= 0 && items[i].getBoundingClientRect().bottom > bottom + 0.5; i--) {
      items[i].hidden = true;
      shown = i;
    }
    // A grid can put a later card beside an earlier one: hide every card
    // after the first hidden, so the list stays in order.
    for (let i = shown; i < items.length; i++) items[i].hidden = true;
    if (shown < items.length) label.textContent = say(shown, items.length);
  }

  const rate = (r) => (r === null || r === undefined ? '–' : T('figures.rate', { Rate: SwitchboardI18n.number(r) }));
  function tile(testid, value, text, label, extra, cls) {
    return el('div', { class: `fig${cls ? ' ' + cls : ''}`, 'data-testid': testid, 'data-value': String(value) },
      numEl('span', text, { class: 'fig-v num' }), el('span', { class: 'fig-l', text: label }), extra || null);
  }
  function renderFigures() {
    const t = state.today, f = t.total;
    let split = T('figures.split', { In: f.inbound, Out: f.outbound });
    if (f.internal > 0) split += T('figures.split_internal', { Internal: f.internal });
    $('tiles').replaceChildren(
      tile('fig-calls', f.calls, String(f.calls), T('figures.calls'), el('span', { class: 'fig-s', text: split })),
      tile('fig-answered', f.answered, String(f.answered), T('figures.answered'),
        el('span', { class: 'fig-s', 'data-testid': 'fig-rate', 'data-value': f.answer_rate === null ? '' : String(f.answer_rate), text: rate(f.answer_rate) }), 'fig-answered'),
      tile('fig-missed', f.missed, String(f.missed), T('figures.missed'), null, 'fig-missed'),
      tile('fig-avg-wait', f.avg_wait, fmtSeconds(f.avg_wait), T('figures.avg_wait')),
      tile('fig-avg-talk', f.avg_talk, fmtSeconds(f.avg_talk), T('figures.avg_talk')),
      tile('fig-longest-wait', f.longest_wait, fmtSeconds(f.longest_wait), T('figures.longest_wait')));
    $('figures').dataset.date = t.date;
    $('figures-error').textContent = t.error || '';
    const b = (n) => el('b', { class: 'num', 'data-num': true, text: n });
    $('per-source').replaceChildren(...t.sources.map((s) => el('li', {
      class: 'src-fig', 'data-testid': 'source-figures', 'data-source': s.source,
      'data-calls': String(s.calls), 'data-answered': String(s.answered), 'data-missed': String(s.missed),
    },
      el('span', { class: 'src-name', text: s.source }),
      el('span', {}, b(String(s.calls)), ' ' + T('figures.calls')),
      el('span', {}, b(String(s.answered)), ' ' + T('figures.answered')),
      el('span', {}, b(String(s.missed)), ' ' + T('figures.missed')),
      el('span', {}, b(rate(s.answer_rate)), ' ' + T('figures.answered')),
      el('span', {}, T('figures.wait') + ' ', b(fmtSeconds(s.avg_wait))),
      el('span', {}, T('figures.talk') + ' ', b(fmtSeconds(s.avg_talk))),
      el('span', {}, T('figures.longest') + ' ', b(fmtSeconds(s.longest_wait))))));
    renderSources();
    renderChart();
    fitLists();
  }

  // renderChart draws the calls per hour as web/wallboard.templ does:
  // viewBox 0 0 240 64, bars 8 wide standing on y = 52, 48 high at most.
  function renderChart() {
    const hours = state.today.hours || [];
    const top = Math.max(0, ...hours.map((h) => h.calls));
    const kids = [svg('line', { class: 'axis', x1: 0, y1: 52.5, x2: 240, y2: 52.5 })];
    const pad = (n) => String(n).padStart(2, '0');
    if (top > 0) {
      for (const h of hours) {
        if (!h.calls) continue;
        const x = (h.hour * 10 + 1).toFixed(2), hh = 48 * h.calls / top, mh = 48 * h.missed / top;
        const g = svg('g', { class: 'bar', 'data-hour': h.hour, 'data-calls': h.calls, 'data-missed': h.missed },
          svg('rect', { class: 'bar-all', x, y: (52 - hh).toFixed(2), width: 8, height: hh.toFixed(2) }));
        if (h.missed > 0) g.append(svg('rect', { class: 'bar-missed', x, y: (52 - mh).toFixed(2), width: 8, height: mh.toFixed(2) }));
        const title = svg('title', {});
        title.textContent = T('figures.hour_title', { Hour: pad(h.hour), Calls: h.calls, Missed: h.missed });
        g.append(title);
        kids.push(g);
      }
    }
    for (const h of [0, 6, 12, 18]) {
      const t = svg('text', { class: 'tick', x: (h * 10).toFixed(2), y: 62 });
      t.textContent = pad(h);
      kids.push(t);
    }
    $('hour-chart').replaceChildren(...kids);
  }

  function tick() {
    if (!stale()) for (const t of document.querySelectorAll('[data-since]')) t.textContent = elapsed(t.dataset.since);
    const clock = $('clock');
    if (clock) {
      clock.textContent = clockFmt.format(serverNow());
      $('kiosk-date').textContent = kioskDate(serverNow());
    }
  }

  // ---- stale screen, errors and signing out ----------------------------

  const connLabels = { connecting: T('js.wall.conn.connecting'), live: T('js.wall.conn.live'), reconnecting: T('js.wall.conn.reconnecting'), offline: T('js.wall.conn.offline') };
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

  // stale is since when (server ms) the server cannot be reached; 0 when
  // it can.
  function stale() {
    const t = [state.socketLost, state.fetchLost].filter((v) => v !== null);
    return t.length ? Math.min(...t) : 0;
  }
  // markStale says on the whole board what is out of date: a banner with
  // since when, everything dimmed while the server cannot be reached, the
  // calls of a source that is down dimmed while it is.
  function markStale() {
    const wall = $('wall');
    const since = stale();
    const down = [...state.sources.values()].filter(sourceDown).sort((a, b) => (a.name < b.name ? -1 : 1));
    const lines = [];
    if (since) {
      lines.push(el('p', { 'data-testid': 'stale-server' },
        el('strong', { text: T('js.wall.stale.server', { Since: fmtTime(new Date(since).toISOString()) }) }),
        ' ' + T('js.wall.stale.server_hint')));
    }
    for (const s of down) {
      const vars = { Source: s.name, State: linkWord(s.state), Since: isZero(s.since) ? '' : fmtTime(s.since), Error: s.error || '' };
      lines.push(el('p', { 'data-testid': 'stale-source', 'data-source': s.name },
        el('strong', { text: T(vars.Since ? 'js.wall.stale.source_since' : 'js.wall.stale.source', vars) }),
        ' ' + T(s.error ? 'js.wall.stale.source_hint_error' : 'js.wall.stale.source_hint', vars)));
    }
    const banner = $('banner');
    banner.replaceChildren(...lines);
    banner.hidden = lines.length === 0;
    banner.dataset.state = since ? 'offline' : down.length ? 'source-down' : 'ok';
    wall.classList.toggle('stale', !!since);
    const downNames = new Set(down.map((s) => s.name));
    for (const card of document.querySelectorAll('#calls .call')) card.classList.toggle('src-down', downNames.has(card.dataset.source));
    // The banner takes room from the lists.
    fitLists();
  }

  // signInGone ends the page's life once its sign-in is gone: a wall
  // screen says so in words (and stops trying); a person is sent to the
  // sign-in page.
  function signInGone(why) {
    if (state.signedOut) return;
    state.signedOut = true;
    clearTimeout(retryTimer);
    if (ws) { try { ws.close(); } catch (_) { /* already closing */ } }
    if (!kiosk) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); return; }
    $('signed-out-why').textContent = why;
    $('signed-out').hidden = false;
    $('wall').classList.add('gone');
    setConn('offline', T('js.wall.conn.signed_out'));
  }
  const signOutReasons = {
    'device revoked': T('js.wall.gone.revoked'),
    'signed out': T('js.wall.gone.signed_out'),
    'session expired': T('js.wall.gone.expired'),
    'sign-in changed; sign in again': T('js.wall.gone.changed'),
    'token revoked': T('js.wall.gone.token'),
  };

  // ---- the figures of the day --------------------------------------------

  let todayBusy = false, todayAgain = false, todayRetries = 0, todayRetry = 0;
  // fetchToday asks for the figures; one request at a time, a request
  // asked for meanwhile follows it. A network failure or no answer in
  // 10 s marks the screen stale, as a dropped socket does.
  async function fetchToday() {
    if (state.signedOut) return;
    if (todayBusy) { todayAgain = true; return; }
    todayBusy = true;
    try {
      let r;
      try {
        r = await fetch('/api/today', { headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: AbortSignal.timeout(10000) });
      } catch (_) {
        if (state.fetchLost === null) state.fetchLost = serverNow();
        return;
      }
      state.fetchLost = null;
      if (r.status === 401) { signInGone(T('wallboard.signed_out')); return; }
      if (!r.ok) return; // the server answers; its figures come next time
      let t;
      try {
        t = await r.json();
      } catch (_) {
        // The body did not come in time (the signal covers it too).
        if (state.fetchLost === null) state.fetchLost = serverNow();
        return;
      }
      state.skew = Date.parse(t.now) - Date.now();
      state.today = t;
      renderFigures();
      renderRecent();
      // An ended call the history had not saved yet: ask again shortly.
      const full = t.recent.length >= (t.limit || 50);
      const missing = [...state.ended.values()].some((c) => !full || Date.parse(c.started) >= Date.parse(t.recent[t.recent.length - 1].started));
      clearTimeout(todayRetry);
      if (missing && todayRetries < 3) { todayRetries++; todayRetry = setTimeout(fetchToday, 1000); } else todayRetries = 0;
    } finally {
      todayBusy = false;
      markStale();
      if (todayAgain) { todayAgain = false; fetchToday(); }
    }
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
        // Calls may have ended while the socket was down.
        fetchToday();
        return;
      case 'call': {
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        const c = msg.call;
        if (c.state === 'ended') {
          state.calls.delete(c.id);
          state.ended.set(c.id, c);
          renderRecent();
          fetchToday();
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
    if (state.signedOut) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/events`;
    if (state.epoch) url += `?since=${state.seq}&epoch=${encodeURIComponent(state.epoch)}`;
    setConn(attempt === 0 ? 'connecting' : 'reconnecting');
    ws = new WebSocket(url);
    ws.onopen = () => { attempt = 0; state.socketLost = null; setConn('live'); markStale(); };
    ws.onmessage = (e) => {
      try { apply(JSON.parse(e.data)); } catch (err) { showError(T('js.wall.error.bad_message', { Detail: err.message })); }
    };
    ws.onclose = (e) => {
      ws = null;
      if (state.signedOut) return;
      if (state.socketLost === null) state.socketLost = serverNow();
      markStale();
      if (e.code === 1008 && signOutReasons[e.reason]) { signInGone(signOutReasons[e.reason]); return; }
      if (e.code === 1008 && e.reason === 'too slow') showError(T('js.wall.error.too_slow'));
      // 1001 (going away): the server is shutting down or restarting.
      // On a wall screen the banner says it.
      if (e.code === 1001 && !kiosk) showError(T('js.wall.error.restart'));
      scheduleReconnect();
    };
  }
  async function scheduleReconnect() {
    attempt++;
    // Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … 15 s.
    const delay = Math.min(15000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() / 2);
    setConn(attempt > 3 ? 'offline' : 'reconnecting', T('js.wall.retry', { Count: Math.max(1, Math.round(delay / 1000)) }));
    if (attempt > 1) {
      // A failed handshake hides its status: ask the API whether we are
      // still signed in.
      try {
        const r = await fetch('/api/calls', { headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: AbortSignal.timeout(10000) });
        if (r.status === 401) { signInGone(T('wallboard.signed_out')); return; }
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
    if (!r.ok) throw new Error(data.message || data.error || `${r.status} ${r.statusText}`);
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
        if (!confirm(T('js.wall.confirm_hangup', { Who: who }))) return;
        await post(`/api/calls/${encodeURIComponent(id)}/hangup`);
      } else if (btn.dataset.action === 'transfer') {
        const to = prompt(T('js.wall.prompt_transfer', { Who: who }));
        if (!to) return;
        await post(`/api/calls/${encodeURIComponent(id)}/transfer`, { to: to.trim() });
      }
    } catch (err) {
      showError(T('js.wall.error.action', { Action: T(`action.${btn.dataset.action}`), Detail: err.message }));
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
        showError(T('js.wall.error.originate', { Detail: err.message }));
      }
    });
  }

  renderFigures();
  renderRecent();
  tick();
  window.addEventListener('resize', fitLists);
  // Whatever else changes the room the lists have (the sources, a queue
  // view, the banner, figures that came later) changes their boxes'
  // size: they are fitted again before the next paint.
  if (window.ResizeObserver) {
    const ro = new ResizeObserver(() => fitLists());
    for (const box of [$('recent').closest('.recent-panel'), $('calls')]) if (box) ro.observe(box);
  }
  setInterval(tick, 1000);
  // Every 30 s: the figures (the history may have more than the socket
  // told), the server's presence, and a wall screen's sign-in renewed.
  setInterval(fetchToday, 30000);
  connect();

  // ---- the queue view (?view=queues) --------------------------------------

  // queueView keeps the big-screen queue tiles live from /events: per
  // queue the callers waiting, the longest wait (ticking), the service
  // level and the agents free, each coloured and worded against the
  // thresholds so that it reads across the room without telling colours
  // apart.
  function queueView() {
    const T = SwitchboardI18n.t, num = SwitchboardI18n.number;
    const th = boot.thresholds;
    const qs = { queues: new Map(), seq: 0, epoch: '', skew: Date.parse(boot.now) - Date.now() };
    const now = () => Date.now() + qs.skew;
    const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: boot.zone || SwitchboardTime.zone });
    const fmt = (sec) => {
      sec = Math.max(0, Math.floor(sec));
      const m = Math.floor(sec / 60), x = sec % 60;
      return `${m}:${String(x).padStart(2, '0')}`;
    };
    const icon = { ok: '✓', warn: '▲', bad: '✕' };
    // The reasons a sign-in ends, as the server closes the socket.
    const gone = {
      'device revoked': T('js.wall.gone.revoked'),
      'signed out': T('js.wall.gone.signed_out'),
      'session expired': T('js.wall.gone.expired'),
      'sign-in changed; sign in again': T('js.wall.gone.changed'),
      'token revoked': T('js.wall.gone.token'),
    };
    const longest = (q) => Math.max(0, ...(q.callers || []).map((c) => (now() - Date.parse(c.joined)) / 1000));
    const free = (q) => (q.members || []).filter((m) => !m.paused && !m.in_call && m.state === 'idle').length;
    function node(tag, cls, text) {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function fig(testid, value, label, level) {
      const d = node('div', `wq-fig lvl-${level || 'none'}`);
      d.dataset.testid = testid;
      d.dataset.level = level || 'none';
      const v = node('span', 'wq-v num', value);
      v.dataset.num = '';
      d.append(v, node('span', 'wq-l', label));
      if (level) d.append(node('span', 'wq-lvl', `${icon[level]} ${T(`js.panel.q.${level}`)}`));
      return d;
    }
    function levels(q) {
      const waiting = (q.callers || []).length, wait = longest(q), sl = q.stats ? q.stats.sl : null;
      return {
        waiting, wait, sl, free: free(q),
        wait_level: waiting ? (wait > th.wait_bad ? 'bad' : wait > th.wait_warn ? 'warn' : 'ok') : null,
        sl_level: sl === null || sl === undefined ? null : sl < th.sl_bad ? 'bad' : sl < th.sl_warn ? 'warn' : 'ok',
        free_level: waiting ? (free(q) === 0 ? 'bad' : 'ok') : null,
      };
    }
    function render() {
      const list = [...qs.queues.values()].sort((a, b) => a.name.localeCompare(b.name));
      $('wq-tiles').replaceChildren(...list.map((q) => {
        const l = levels(q);
        const sec = node('section', 'wq-tile');
        sec.dataset.testid = 'wall-queue';
        sec.dataset.id = q.id;
        sec.dataset.waiting = l.waiting;
        sec.append(node('h2', 'wq-name', q.name),
          fig('wq-waiting', num(l.waiting), T('js.panel.q.waiting'), l.wait_level),
          fig('wq-longest', l.waiting ? fmt(l.wait) : T('js.panel.q.none'), T('js.panel.q.longest'), l.wait_level),
          fig('wq-sl', l.sl === null || l.sl === undefined ? T('js.panel.q.none') : `${num(l.sl)} %`, T('js.panel.q.sl'), l.sl_level),
          fig('wq-free', num(l.free), T('js.panel.q.free'), l.free_level));
        return sec;
      }));
      $('wq-empty').hidden = list.length > 0;
    }
    function setConn(s) {
      const c = $('conn');
      c.dataset.state = s;
      c.textContent = T(`js.wall.conn.${s}`);
    }
    function apply(msg) {
      if (msg.type === 'snapshot') {
        qs.epoch = msg.epoch; qs.seq = msg.seq;
        if (msg.now) qs.skew = Date.parse(msg.now) - Date.now();
        qs.queues = new Map((msg.queues || []).map((q) => [q.id, q]));
        render();
        return;
      }
      if (msg.seq <= qs.seq) return;
      qs.seq = msg.seq;
      if (msg.type === 'queue') {
        if (msg.queue.removed) qs.queues.delete(msg.queue.id);
        else qs.queues.set(msg.queue.id, msg.queue);
        render();
      }
    }
    let attempt = 0;
    function connect() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      let url = `${proto}//${location.host}/events`;
      if (qs.epoch) url += `?since=${qs.seq}&epoch=${encodeURIComponent(qs.epoch)}`;
      setConn(attempt === 0 ? 'connecting' : 'reconnecting');
      const ws = new WebSocket(url);
      ws.onopen = () => { attempt = 0; setConn('live'); };
      ws.onmessage = (e) => {
        try { apply(JSON.parse(e.data)); } catch (err) { $('errors').textContent = T('js.wall.error.bad_message', { Detail: err.message }); }
      };
      ws.onclose = (e) => {
        if (e.code === 1008 && gone[e.reason]) {
          $('signed-out-why').textContent = gone[e.reason];
          $('signed-out').hidden = false;
          setConn('signed_out');
          return;
        }
        attempt++;
        // Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … 15 s.
        setConn(attempt > 3 ? 'offline' : 'reconnecting');
        setTimeout(connect, Math.min(15000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() / 2));
      };
    }
    setInterval(() => {
      // The longest wait ticks.
      if ([...qs.queues.values()].some((q) => (q.callers || []).length)) render();
      const clock = $('clock');
      if (clock) clock.textContent = clockFmt.format(now());
    }, 1000);
    connect();
  }
})();
