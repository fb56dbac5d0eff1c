// Operator panel: keeps the lamps, the queue tiles and the live calls
// from the /events WebSocket (snapshot, then extension, queue, call and
// source messages; resumes with ?since=SEQ&epoch=EPOCH after a drop) and
// acts through the panel's API: drop a call on a lamp (or Enter on the
// call, then Enter on the lamp) puts it through; a click or Enter on a
// lamp dials it from the operator's own phone; the queue tiles pause,
// resume, log in and log out agents. Only what a call's or queue's
// source offers (its status's actions) is shown.
'use strict';
(function () {
  const boot = JSON.parse(document.getElementById('panel-data').textContent);
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : '';
  const T = window.SwitchboardI18n.t;
  const fmtNum = window.SwitchboardI18n.number;
  const $ = (id) => document.getElementById(id);

  const state = {
    epoch: '', seq: 0, skew: Date.parse(boot.now) - Date.now(),
    calls: new Map(), sources: new Map(), exts: new Map(), queues: new Map(),
    // picked is the call being put through by keyboard, or null.
    picked: null, filter: '',
  };
  const serverNow = () => Date.now() + state.skew;

  // ---- helpers ------------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'title' || k === 'type' ||
        k === 'tabindex' || k === 'draggable' || k === 'placeholder' || k === 'name' || k === 'list' || k === 'for' || k === 'id') e.setAttribute(k, v === true ? '' : v);
      else e[k] = v;
    }
    for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
    return e;
  }

  // fmtSeconds writes a wait or a time in a state: 0:42, 12:03, 1:02:03.
  function fmtSeconds(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    const two = (n) => String(n).padStart(2, '0');
    return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
  }
  const since = (t) => (serverNow() - Date.parse(t)) / 1000;

  function who(p) {
    if (!p) return T('party.unknown');
    if (p.private) return T('party.withheld');
    return p.name ? `${p.name} (${p.number || T('party.unknown')})` : (p.number || T('party.unknown'));
  }
  function callWho(c) { return `${who(c.from)} → ${who(c.to)}`; }

  // offers reports whether the source offers action (its status lists it).
  function offers(source, action) {
    const s = state.sources.get(source);
    return !!(s && s.actions && s.actions.includes(action) && ['connected', 'resyncing', 'registered'].includes(s.state));
  }

  // glob matches a group's pattern: * stands for any characters.
  function glob(pat, s) {
    const re = new RegExp('^' + pat.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    return re.test(s || '');
  }

  const lampIcon = { free: '○', ringing: '◎', busy: '●', dnd: '⊘', away: '◔', offline: '✕', unknown: '?' };
  const deviceKey = (s) => (s || 'unknown').replace(/[^a-z]+/g, '_');

  let errTimer = 0;
  function showError(msg) {
    const box = $('errors');
    box.replaceChildren(el('p', { text: msg }));
    clearTimeout(errTimer);
    errTimer = setTimeout(() => box.replaceChildren(), 12000);
  }
  function say(msg) { $('panel-live').textContent = msg; }

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
  async function act(kind, url, body, done) {
    try {
      await post(url, body);
      if (done) say(done);
      return true;
    } catch (err) {
      showError(T('js.panel.error', { Action: T(`js.panel.action.${kind}`), Detail: err.message }));
      return false;
    }
  }

  // ---- calls ----------------------------------------------------------------

  function callItem(c) {
    const movable = boot.act && offers(c.source, 'transfer');
    const timerFrom = c.answered || c.started;
    const li = el('li', {
      class: `pcall state-${c.state}` + (state.picked === c.id ? ' picked' : ''), 'data-testid': 'panel-call', 'data-id': c.id,
      'data-source': c.source, 'data-state': c.state,
    },
    el('span', { class: 'pc-state', text: T(`state.${c.state}`) }),
    el('span', { class: 'pc-who', text: callWho(c) }),
    el('span', { class: 'pc-timer num', 'data-since': timerFrom, 'data-num': true, text: fmtSeconds(since(timerFrom)) }));
    if (movable) {
      li.draggable = true;
      li.setAttribute('aria-grabbed', state.picked === c.id ? 'true' : 'false');
      li.append(el('button', {
        type: 'button', class: 'pc-pick', 'data-testid': 'panel-call-pick', 'aria-pressed': state.picked === c.id ? 'true' : 'false',
        title: T('js.panel.put_through_title'), text: T('js.panel.put_through'),
      }));
    }
    return li;
  }

  function renderCalls() {
    const list = [...state.calls.values()].sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
    if (state.picked && !state.calls.has(state.picked)) pick(null);
    const box = $('pcalls');
    const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.closest('[data-id]') : null;
    box.replaceChildren(...list.map(callItem));
    if (focused) {
      const again = box.querySelector(`[data-id="${CSS.escape(focused.dataset.id)}"] button`);
      if (again) again.focus();
    }
    $('pcalls-count').textContent = list.length;
    $('pcalls-empty').hidden = list.length > 0;
  }

  function pick(id) {
    state.picked = id;
    const bar = $('panel-pick');
    if (!id) {
      bar.hidden = true;
      bar.replaceChildren();
    } else {
      const c = state.calls.get(id);
      bar.hidden = false;
      const cancel = el('button', { type: 'button', 'data-testid': 'panel-pick-cancel', text: T('js.panel.cancel') });
      cancel.addEventListener('click', () => { pick(null); renderCalls(); renderLamps(); });
      bar.replaceChildren(el('span', { text: T('js.panel.pick', { Who: c ? callWho(c) : id }) }), cancel);
    }
    document.body.classList.toggle('picking', !!id);
  }

  $('pcalls').addEventListener('click', (e) => {
    const btn = e.target.closest('.pc-pick');
    if (!btn) return;
    const id = btn.closest('[data-id]').dataset.id;
    pick(state.picked === id ? null : id);
    renderCalls(); renderLamps();
    if (state.picked) {
      const first = document.querySelector('.lamp.can-take');
      if (first) first.focus();
    }
  });
  $('pcalls').addEventListener('dragstart', (e) => {
    const li = e.target.closest('[data-id]');
    if (!li) return;
    e.dataTransfer.setData('application/x-switchboard-call', li.dataset.id);
    e.dataTransfer.setData('text/plain', li.dataset.id);
    e.dataTransfer.effectAllowed = 'move';
    state.dragging = li.dataset.id;
    document.body.classList.add('dragging');
  });
  $('pcalls').addEventListener('dragend', () => { state.dragging = null; document.body.classList.remove('dragging'); });

  // ---- lamps ----------------------------------------------------------------

  // otherParty is who the extension talks to: the party of its call that
  // is not itself.
  function otherParty(x) {
    for (const id of x.calls || []) {
      const c = state.calls.get(id);
      if (!c) continue;
      const me = (p) => p && p.number && (p.number === x.number || p.extension === x.number);
      return me(c.from) ? c.to : c.from;
    }
    // A busy lamp over SIP names the other party of its dialog itself.
    return (x.peers && x.peers[0]) || null;
  }

  function lamp(x) {
    const lampWord = T(`js.panel.lamp.${x.lamp}`);
    const name = x.name || x.number;
    const other = otherParty(x);
    const detail = [T(`js.panel.device.${deviceKey(x.state)}`)];
    if (x.presence && x.presence !== 'available') detail.push(T(`js.panel.presence.${x.presence}`));
    const picked = state.picked ? state.calls.get(state.picked) : null;
    const canTake = !!picked && picked.source === x.source;
    const title = picked
      ? (canTake ? T('js.panel.transfer_title', { Who: callWho(picked), Name: name }) : T('js.panel.other_system', { Name: name, Source: x.source }))
      : (boot.own && offers(x.source, 'originate') ? T('js.panel.dial_title', { Name: name, Own: boot.own }) : '');
    const node = el('button', {
      type: 'button', class: `lamp lamp-${x.lamp}` + (canTake ? ' can-take' : ''), 'data-testid': 'lamp', 'data-id': x.id,
      'data-lamp': x.lamp, 'data-state': x.state, 'data-number': x.number, 'data-source': x.source, title: title || undefined,
      'aria-label': `${name} ${x.number}: ${lampWord}` + (x.message ? `, ${x.message}` : '') + (other ? `, ${T('js.panel.with', { Who: who(other) })}` : ''),
    },
    el('span', { class: 'lamp-icon', 'aria-hidden': 'true', text: lampIcon[x.lamp] || '?' }),
    el('span', { class: 'lamp-body' },
      el('span', { class: 'lamp-name', text: name }),
      x.name ? el('span', { class: 'lamp-number num', 'data-num': true, text: x.number }) : null,
      el('span', { class: 'lamp-word', 'data-testid': 'lamp-word', text: lampWord }),
      el('span', { class: 'lamp-detail', text: detail.join(' · ') }),
      x.message ? el('span', { class: 'lamp-msg', 'data-testid': 'lamp-message', text: x.message }) : null,
      other ? el('span', { class: 'lamp-other', 'data-testid': 'lamp-other', text: T('js.panel.with', { Who: who(other) }) }) : null,
      el('span', { class: 'lamp-since num', 'data-since': x.since, 'data-num': true, text: T('js.panel.since', { Time: fmtSeconds(since(x.since)) }) })));
    return node;
  }

  function matchesFilter(x) {
    const f = state.filter;
    if (!f) return true;
    return [x.name, x.number, x.message, x.id].some((v) => v && v.toLowerCase().includes(f));
  }

  function renderLamps() {
    const box = $('lamp-groups');
    const focusedId = document.activeElement && document.activeElement.classList.contains('lamp') ? document.activeElement.dataset.id : null;
    const focusedGroup = focusedId ? document.activeElement.closest('[data-group]').dataset.group : null;
    const all = [...state.exts.values()].sort((a, b) => (a.number || '').localeCompare(b.number || '', undefined, { numeric: true }) || a.id.localeCompare(b.id));
    const shown = all.filter(matchesFilter);
    const groups = [];
    const placed = new Set();
    for (const g of boot.groups) {
      const members = shown.filter((x) => g.extensions.some((p) => glob(p, x.number) || glob(p, x.id)));
      members.forEach((x) => placed.add(x.id));
      groups.push({ name: g.name, members });
    }
    // A lamp whose own configuration names a group (a `blf:` target's
    // group) goes there when no panel group took it.
    for (const x of shown) {
      if (placed.has(x.id) || !x.group) continue;
      let g = groups.find((gr) => gr.name === x.group);
      if (!g) groups.push(g = { name: x.group, members: [] });
      g.members.push(x);
      placed.add(x.id);
    }
    const rest = shown.filter((x) => !placed.has(x.id));
    const named = groups.length > 0;
    if (rest.length || !named) groups.push({ name: named ? T('js.panel.other_group') : '', members: rest });
    const nodes = [];
    for (const g of groups) {
      if (!g.members.length && named) continue;
      const sec = el('section', { class: 'lamp-group', 'data-testid': 'lamp-group', 'data-group': g.name });
      if (g.name) sec.append(el('h3', { text: g.name }));
      sec.append(el('div', { class: 'lamps', role: 'group', 'aria-label': g.name || T('js.panel.all') }, ...g.members.map(lamp)));
      nodes.push(sec);
    }
    box.replaceChildren(...nodes);
    $('lamps-empty').hidden = all.length > 0;
    $('plamps-count').textContent = state.filter ? T('js.panel.count', { Count: shown.length }) : '';
    if (focusedId) {
      const again = box.querySelector(`[data-group="${CSS.escape(focusedGroup)}"] .lamp[data-id="${CSS.escape(focusedId)}"]`) ||
        box.querySelector(`.lamp[data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
  }

  async function transfer(callId, x) {
    const c = state.calls.get(callId);
    if (!c) return;
    const name = x.name || x.number;
    if (c.source !== x.source) { showError(T('js.panel.other_system', { Name: name, Source: x.source })); return; }
    const ok = await act('transfer', `/api/calls/${encodeURIComponent(callId)}/transfer`, { extension: x.id },
      T('js.panel.transferred', { Who: callWho(c), Name: name }));
    if (ok) { pick(null); renderCalls(); renderLamps(); }
  }

  async function dial(x) {
    const name = x.name || x.number;
    if (!boot.own) { showError(T('js.panel.no_own')); return; }
    await act('dial', `/api/extensions/${encodeURIComponent(x.id)}/dial`, {}, T('js.panel.dialing', { Name: name, Own: boot.own }));
  }

  const lampBox = $('lamp-groups');
  lampBox.addEventListener('click', (e) => {
    const node = e.target.closest('.lamp');
    if (!node || !boot.act) return;
    const x = state.exts.get(node.dataset.id);
    if (!x) return;
    if (state.picked) transfer(state.picked, x);
    else if (offers(x.source, 'originate')) dial(x);
  });
  lampBox.addEventListener('dragover', (e) => {
    const node = e.target.closest('.lamp');
    if (!node || !boot.act) return;
    const c = state.dragging ? state.calls.get(state.dragging) : null;
    if (c && c.source !== node.dataset.source) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    node.classList.add('drop-target');
  });
  lampBox.addEventListener('dragleave', (e) => {
    const node = e.target.closest('.lamp');
    if (node && !node.contains(e.relatedTarget)) node.classList.remove('drop-target');
  });
  lampBox.addEventListener('drop', (e) => {
    const node = e.target.closest('.lamp');
    if (!node) return;
    e.preventDefault();
    node.classList.remove('drop-target');
    const id = e.dataTransfer.getData('application/x-switchboard-call') || e.dataTransfer.getData('text/plain');
    const x = state.exts.get(node.dataset.id);
    if (id && x) transfer(id, x);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.picked) {
      const id = state.picked;
      pick(null); renderCalls(); renderLamps();
      const back = document.querySelector(`.pcall[data-id="${CSS.escape(id)}"] .pc-pick`);
      if (back) back.focus();
    }
  });

  $('panel-filter').addEventListener('input', (e) => {
    state.filter = e.target.value.trim().toLowerCase();
    renderLamps(); renderQueues();
  });

  // ---- queues ---------------------------------------------------------------

  // level says how a figure stands against the thresholds: ok, warn, bad.
  function levelLow(v, warn, bad) { return v === null || v === undefined ? 'none' : v < bad ? 'bad' : v < warn ? 'warn' : 'ok'; }
  function levelHigh(v, warn, bad) { return v === null || v === undefined ? 'none' : v > bad ? 'bad' : v > warn ? 'warn' : 'ok'; }
  const levelIcon = { ok: '✓', warn: '▲', bad: '✕', none: '' };

  function longest(q) {
    let w = 0;
    for (const c of q.callers || []) if (c.joined) w = Math.max(w, since(c.joined));
    return w;
  }
  function agentsFree(q) {
    return (q.members || []).filter((m) => !m.paused && !m.in_call && m.state === 'idle').length;
  }

  function kpi(testid, value, text, label, level) {
    return el('div', { class: `kpi lvl-${level}`, 'data-testid': testid, 'data-value': value, 'data-level': level },
      el('span', { class: 'kpi-v num', 'data-num': true, text }),
      el('span', { class: 'kpi-l', text: label }),
      level !== 'none' ? el('span', { class: 'kpi-lvl', text: `${levelIcon[level]} ${T(`js.panel.q.${level}`)}` }) : null);
  }

  function memberRow(q, m) {
    const name = m.name || m.interface;
    const st = m.paused ? (m.pause_reason ? T('js.panel.q.paused_reason', { Reason: m.pause_reason }) : T('js.panel.q.paused'))
      : m.in_call ? T('js.panel.q.in_call') : T(`js.panel.device.${deviceKey(m.state)}`);
    const kind = m.paused ? 'paused' : m.in_call ? 'busy' : m.state === 'idle' ? 'free' : m.state === 'unavailable' ? 'offline' : 'busy';
    const li = el('li', { class: `member m-${kind}`, 'data-testid': 'queue-member', 'data-member': m.interface, 'data-paused': m.paused ? 'true' : 'false' },
      el('span', { class: 'm-icon', 'aria-hidden': 'true', text: kind === 'paused' ? '‖' : lampIcon[kind] || '?' }),
      el('span', { class: 'm-name', text: name }),
      el('span', { class: 'm-state', 'data-testid': 'member-state', text: st }),
      el('span', { class: 'm-taken', text: T('js.panel.q.taken', { Count: m.calls_taken || 0 }) }));
    if (boot.act) {
      const acts = el('span', { class: 'm-acts' });
      if (offers(q.source, 'queue-pause')) {
        if (m.paused) {
          acts.append(el('button', { type: 'button', 'data-act': 'resume', 'data-testid': 'member-resume', text: T('js.panel.q.resume') }));
        } else {
          const f = el('form', { class: 'pause-form', 'data-testid': 'pause-form' },
            el('label', { class: 'sr', text: T('js.panel.q.reason'), for: `r-${q.id}-${m.interface}` }),
            el('input', { name: 'reason', id: `r-${q.id}-${m.interface}`, placeholder: T('js.panel.q.reason_placeholder'), maxLength: 64, 'data-testid': 'pause-reason' }),
            el('button', { type: 'submit', 'data-testid': 'member-pause', text: T('js.panel.q.pause') }));
          acts.append(f);
        }
      }
      if (offers(q.source, 'queue-remove')) acts.append(el('button', { type: 'button', 'data-act': 'logout', 'data-testid': 'member-logout', text: T('js.panel.q.logout') }));
      li.append(acts);
    }
    return li;
  }

  function tile(q) {
    const th = boot.thresholds;
    const wait = longest(q);
    const sl = q.stats ? q.stats.sl : null, ab = q.stats ? q.stats.abandon_rate : null;
    const waitLevel = (q.callers || []).length ? levelHigh(wait, th.wait_warn, th.wait_bad) : 'none';
    const sec = el('section', { class: 'qtile', 'data-testid': 'queue-tile', 'data-id': q.id, 'data-waiting': (q.callers || []).length, 'aria-label': q.name },
      el('h3', {}, el('span', { class: 'q-name', text: q.name }), el('span', { class: 'q-src', text: q.source })),
      el('div', { class: 'kpis' },
        kpi('q-waiting', (q.callers || []).length, fmtNum((q.callers || []).length), T('js.panel.q.waiting'), (q.callers || []).length ? waitLevel : 'none'),
        kpi('q-longest', Math.floor(wait), (q.callers || []).length ? fmtSeconds(wait) : T('js.panel.q.none'), T('js.panel.q.longest'), waitLevel),
        kpi('q-sl', sl === null ? '' : sl, sl === null ? T('js.panel.q.none') : `${fmtNum(sl)} %`, T('js.panel.q.sl'), levelLow(sl, th.sl_warn, th.sl_bad)),
        kpi('q-abandoned', ab === null ? '' : ab, ab === null ? T('js.panel.q.none') : `${fmtNum(ab)} %`, T('js.panel.q.abandoned'), levelHigh(ab, th.abandoned_warn, th.abandoned_bad)),
        kpi('q-free', agentsFree(q), fmtNum(agentsFree(q)), T('js.panel.q.free'), 'none')));
    const callers = (q.callers || []).map((c) => el('li', { class: 'qcaller', 'data-testid': 'queue-caller' },
      el('span', { class: 'qc-pos num', 'data-num': true, text: `${c.position}.` }),
      el('span', { class: 'qc-who', text: who(c) }),
      el('span', { class: 'qc-wait num', 'data-since': c.joined, 'data-num': true, text: fmtSeconds(since(c.joined)) })));
    sec.append(el('h4', { text: T('js.panel.q.callers') }),
      callers.length ? el('ol', { class: 'qcallers' }, ...callers) : el('p', { class: 'empty', text: T('js.panel.q.no_callers') }));
    const members = (q.members || []).map((m) => memberRow(q, m));
    sec.append(el('h4', { text: T('js.panel.q.agents') }),
      members.length ? el('ul', { class: 'members' }, ...members) : el('p', { class: 'empty', text: T('js.panel.q.no_agents') }));
    if (boot.act && offers(q.source, 'queue-add')) {
      sec.append(el('form', { class: 'login-form', 'data-testid': 'login-form' },
        el('label', { class: 'sr', text: T('js.panel.q.member'), for: `l-${q.id}` }),
        el('input', { name: 'member', id: `l-${q.id}`, placeholder: T('js.panel.q.member_placeholder'), required: true, maxLength: 64, 'data-testid': 'login-member' }),
        el('button', { type: 'submit', 'data-testid': 'member-login', text: T('js.panel.q.login') })));
    }
    return sec;
  }

  function renderQueues() {
    const box = $('qtiles');
    // What has the focus (a button, a reason being typed) keeps it, and
    // its text, across the new tiles.
    const active = box.contains(document.activeElement) ? document.activeElement : null;
    const keep = active && active.id ? { id: active.id, value: active.value } : active && active.dataset.testid
      ? { tile: active.closest('[data-id]').dataset.id, member: (active.closest('[data-member]') || { dataset: {} }).dataset.member, testid: active.dataset.testid } : null;
    const f = state.filter;
    const list = [...state.queues.values()].filter((q) => !f || q.name.toLowerCase().includes(f) ||
      (q.members || []).some((m) => (m.name || m.interface).toLowerCase().includes(f))).sort((a, b) => a.name.localeCompare(b.name));
    box.replaceChildren(...list.map(tile));
    $('qtiles-empty').hidden = state.queues.size > 0;
    if (keep && keep.id) {
      const again = document.getElementById(keep.id);
      if (again) { again.value = keep.value; again.focus(); }
    } else if (keep) {
      const t = box.querySelector(`[data-id="${CSS.escape(keep.tile)}"]`);
      const scope = t && keep.member ? t.querySelector(`[data-member="${CSS.escape(keep.member)}"]`) : t;
      const again = scope && scope.querySelector(`[data-testid="${keep.testid}"]`);
      if (again) again.focus();
    }
  }

  $('qtiles').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target;
    const q = state.queues.get(form.closest('[data-id]').dataset.id);
    if (!q) return;
    if (form.classList.contains('pause-form')) {
      const member = form.closest('[data-member]').dataset.member;
      const reason = form.elements.reason.value.trim();
      act('pause', `/api/queues/${encodeURIComponent(q.id)}/pause`, { member, paused: true, reason }, T('js.panel.q.paused_done', { Member: member, Queue: q.name }));
    } else if (form.classList.contains('login-form')) {
      const member = form.elements.member.value.trim();
      act('login', `/api/queues/${encodeURIComponent(q.id)}/login`, { member }, T('js.panel.q.login_done', { Member: member, Queue: q.name }))
        .then((ok) => { if (ok) form.reset(); });
    }
  });
  $('qtiles').addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const q = state.queues.get(btn.closest('[data-id]').dataset.id);
    const member = btn.closest('[data-member]').dataset.member;
    if (!q) return;
    if (btn.dataset.act === 'resume') {
      act('resume', `/api/queues/${encodeURIComponent(q.id)}/pause`, { member, paused: false }, T('js.panel.q.resumed_done', { Member: member, Queue: q.name }));
    } else if (btn.dataset.act === 'logout') {
      act('logout', `/api/queues/${encodeURIComponent(q.id)}/logout`, { member }, T('js.panel.q.logout_done', { Member: member, Queue: q.name }));
    }
  });

  // ---- ticking --------------------------------------------------------------

  function tick() {
    for (const n of document.querySelectorAll('.pc-timer[data-since], .qc-wait[data-since]')) n.textContent = fmtSeconds(since(n.dataset.since));
    for (const n of document.querySelectorAll('.lamp-since[data-since]')) n.textContent = T('js.panel.since', { Time: fmtSeconds(since(n.dataset.since)) });
    for (const t of document.querySelectorAll('.qtile')) {
      const q = state.queues.get(t.dataset.id);
      const k = t.querySelector('[data-testid=q-longest] .kpi-v');
      if (q && k && (q.callers || []).length) k.textContent = fmtSeconds(longest(q));
    }
  }

  // ---- events ---------------------------------------------------------------

  function setConn(s) {
    const c = $('conn');
    c.dataset.state = s;
    c.textContent = T(`js.wall.conn.${s}`);
  }

  function apply(msg) {
    switch (msg.type) {
      case 'snapshot':
        state.epoch = msg.epoch;
        state.seq = msg.seq;
        if (msg.now) state.skew = Date.parse(msg.now) - Date.now();
        state.calls = new Map((msg.calls || []).map((c) => [c.id, c]));
        state.sources = new Map((msg.sources || []).map((s) => [s.name, s]));
        state.exts = new Map((msg.extensions || []).map((x) => [x.id, x]));
        state.queues = new Map((msg.queues || []).map((q) => [q.id, q]));
        renderCalls(); renderLamps(); renderQueues();
        return;
      case 'call':
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        if (msg.call.state === 'ended') state.calls.delete(msg.call.id);
        else state.calls.set(msg.call.id, msg.call);
        renderCalls(); renderLamps();
        return;
      case 'source':
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        state.sources.set(msg.source.name, msg.source);
        renderCalls(); renderLamps(); renderQueues();
        return;
      case 'extension':
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        if (msg.extension.removed) state.exts.delete(msg.extension.id);
        else state.exts.set(msg.extension.id, msg.extension);
        renderLamps();
        return;
      case 'queue':
        if (msg.seq <= state.seq) return;
        state.seq = msg.seq;
        if (msg.queue.removed) state.queues.delete(msg.queue.id);
        else state.queues.set(msg.queue.id, msg.queue);
        renderQueues();
        return;
      default:
        if (msg.seq > state.seq) state.seq = msg.seq;
    }
  }

  let attempt = 0;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/events`;
    if (state.epoch) url += `?since=${state.seq}&epoch=${encodeURIComponent(state.epoch)}`;
    setConn(attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(url);
    ws.onopen = () => { attempt = 0; setConn('live'); };
    ws.onmessage = (e) => {
      try { apply(JSON.parse(e.data)); } catch (err) { showError(T('js.wall.error.bad_message', { Detail: err.message })); }
    };
    ws.onclose = (e) => {
      if (e.code === 1008 && /signed out|expired|revoked|changed/.test(e.reason)) { setConn('signed_out'); return; }
      attempt++;
      // Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … 15 s.
      const delay = Math.min(15000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() / 2);
      setConn(attempt > 3 ? 'offline' : 'reconnecting');
      setTimeout(connect, delay);
    };
  }

  setInterval(tick, 1000);
  connect();
})();
