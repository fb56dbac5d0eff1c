// Softphone page: the browser is a telephone on the office PBX. Signalling
// goes over the /phone WebSocket (JSON, see the README); audio over one
// RTCPeerConnection that is set up when the page opens and kept across
// calls: the server moves it between calls (call waiting, swap, a transfer
// to us) and renegotiates it only when a call's codec differs.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const boot = JSON.parse($('phone-boot').textContent);
  // The page's words come from the server's catalogue (static/i18n.js).
  const T = SwitchboardI18n.t;
  const el = {
    errors: $('phone-errors'), status: $('call-status'), timer: $('call-timer'), calls: $('calls'),
    dial: $('dial'), form: $('dial-form'), call: $('call'), hangup: $('hangup'), mute: $('mute'),
    hold: $('hold'), transfer: $('transfer'), keypadMode: $('keypad-mode'),
    incoming: $('incoming'), incomingFrom: $('incoming-from'), answer: $('answer'), decline: $('decline'),
    waiting: $('waiting'), waitingFrom: $('waiting-from'), waitingAnswer: $('waiting-answer'), waitingDecline: $('waiting-decline'),
    transferPanel: $('transfer-panel'), transferWho: $('transfer-who'), transferInput: $('transfer-input'),
    transferConsult: $('transfer-consult'), transferClose: $('transfer-close'),
    consultPanel: $('consult-panel'), consultText: $('consult-text'), transferComplete: $('transfer-complete'), transferAbort: $('transfer-abort'),
    mic: $('mic'), speaker: $('speaker'), recent: $('recent'), audio: $('remote-audio'),
    accountSelect: $('account-select'), dialWhy: $('dial-why'),
  };
  // /softphone?dial=NUMBER, the history's click-to-call, fills the dial
  // field; calling stays the user's press of Call.
  const dialParam = new URLSearchParams(location.search).get('dial');
  if (dialParam && el.dial) el.dial.value = dialParam.trim().slice(0, 256);

  // The /phone message types (gateway.MessageType), the call states
  // (sipbridge.CallState), the media states (sipbridge.MediaState) and the
  // transfer states (sipbridge.TransferState) as the protocol sends them;
  // a test keeps each object equal to its Go set. The page names a value
  // only through these objects.
  const MessageType = Object.freeze({
    WELCOME: 'welcome', REGISTRATION: 'registration', SDP: 'sdp', CANDIDATE: 'candidate', INCOMING: 'incoming',
    CALL: 'call', ERROR: 'error', DIAL: 'dial', ANSWER: 'answer', DECLINE: 'decline', HANGUP: 'hangup',
    HOLD: 'hold', RESUME: 'resume', TRANSFER: 'transfer', DTMF: 'dtmf',
  });
  const CallState = Object.freeze({
    TRYING: 'trying', RINGING: 'ringing', EARLY: 'early', CONNECTED: 'connected', ENDED: 'ended',
  });
  const MediaState = Object.freeze({
    NONE: 'none', ACTIVE: 'active', LOCAL_HOLD: 'local-hold', REMOTE_HOLD: 'remote-hold', INACTIVE: 'inactive', ERROR: 'error',
  });
  const TransferState = Object.freeze({
    TRYING: 'trying', RINGING: 'ringing', ACCEPTED: 'accepted', FAILED: 'failed',
  });
  // What the call-status line shows when there is no call.
  const PageState = Object.freeze({ IDLE: 'idle', OFFLINE: 'offline', WAITING: 'waiting' });
  // A SIP account's registration (monitor.LinkState in the account status).
  const LinkState = Object.freeze({
    REGISTERING: 'registering', REGISTERED: 'registered', RETRYING: 'retrying', FAILED: 'failed',
  });
  // The calls a page may have at once (gateway maxCalls).
  const MAX_CALLS = 4;
  // How long a failed transfer stays on its call's card.
  const FAILED_TRANSFER_MS = 20000;

  const linkWords = Object.freeze({
    [LinkState.REGISTERED]: T('js.phone.link.registered'), [LinkState.REGISTERING]: T('js.phone.link.registering'),
    [LinkState.RETRYING]: T('js.phone.link.retrying'), [LinkState.FAILED]: T('js.phone.link.failed'),
  });
  const stateWords = Object.freeze({
    [CallState.TRYING]: T('js.phone.state.trying'), [CallState.RINGING]: T('js.phone.state.ringing'), [CallState.EARLY]: T('js.phone.state.ringing'),
    [CallState.CONNECTED]: T('js.phone.state.connected'), [CallState.ENDED]: T('js.phone.state.ended'),
  });
  const mediaWords = Object.freeze({
    [MediaState.NONE]: T('js.phone.media.none'), [MediaState.ACTIVE]: T('js.phone.media.active'),
    [MediaState.LOCAL_HOLD]: T('js.phone.media.local_hold'), [MediaState.REMOTE_HOLD]: T('js.phone.media.remote_hold'),
    [MediaState.INACTIVE]: T('js.phone.media.inactive'), [MediaState.ERROR]: T('js.phone.media.error'),
  });
  // Why a call ended, in words, from its reason and final SIP status (as
  // the server's gateway/protocol.go plainWords); the server's own
  // English words only for what the catalogue has none for.
  const endReasons = Object.freeze({
    completed: 'js.phone.end.completed', busy: 'js.phone.end.busy', rejected: 'js.phone.end.rejected',
    cancelled: 'js.phone.end.cancelled', 'no-answer': 'js.phone.end.no_answer', 'answered-elsewhere': 'js.phone.end.elsewhere',
  });
  const endStatuses = Object.freeze({
    404: 'js.phone.end.not_found', 484: 'js.phone.end.not_found', 604: 'js.phone.end.not_found',
    408: 'js.phone.end.unreachable', 480: 'js.phone.end.unreachable', 403: 'js.phone.end.forbidden',
    486: 'js.phone.end.busy', 600: 'js.phone.end.busy', 603: 'js.phone.end.rejected',
    488: 'js.phone.end.codecs', 606: 'js.phone.end.codecs',
  });
  function endWords(c) {
    if (endReasons[c.reason]) return T(endReasons[c.reason]);
    if (endStatuses[c.status]) return T(endStatuses[c.status]);
    if (c.state === CallState.ENDED) return T('js.phone.end.failed');
    return c.message || stateWords[CallState.ENDED];
  }
  // accounts: each account's registration as last reported
  // ({ state, error }); a dial waits for its account to be registered.
  const accounts = new Map();

  let ws = null, pc = null, sender = null, micStream = null, retry = 1000, offline = false;
  // calls: the page's calls by id, in the order they came:
  // { call, heldSince, digitsIn, digitsOut, card, transferShown }.
  const calls = new Map();
  // ringing: calls ringing here by id, oldest first.
  const ringing = new Map();
  // dials: our dials by client id until their first call message:
  // { to, cancelled }.
  const dials = new Map();
  let dialSeq = 0;
  // focusId: the call the page means to talk to (dialled, answered or
  // resumed last; the one whose audio the server joined).
  let focusId = null;
  // consult: an attended transfer: { origin, dialId, callId, completing }.
  let consult = null;
  // lastEnded: the last call that ended, for the status line.
  let lastEnded = null;
  let ticker = 0, tone = null;

  function showError(msg) {
    const p = document.createElement('p');
    p.textContent = msg;
    el.errors.replaceChildren(p);
  }
  function clearError() { el.errors.replaceChildren(); }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  // regWords puts a registration problem into plain words: an
  // unreachable or silent registrar, or its refusal with the reason it
  // gave, never the status line's capitals.
  function regWords(st) {
    const e = st.error || '';
    let m = /^(?:no answer from|cannot reach) registrar (\S+?):?(?:\s|$)/.exec(e);
    if (m) return T('js.phone.reg.unreachable', { Registrar: m[1] });
    m = /^(\d{3}) [^:]*(?:: (.*))?$/.exec(e);
    if (m) {
      const why = { 401: 'js.phone.reg.password', 407: 'js.phone.reg.password', 403: 'js.phone.reg.refused', 404: 'js.phone.reg.unknown_user' }[m[1]];
      return why ? T(why, { Status: m[1] }) : T('js.phone.reg.status', { Status: m[1] });
    }
    if (/not configured on the server/.test(e)) return T('js.phone.reg.not_configured');
    return e;
  }
  const usable = (st) => !!st && (st.state === LinkState.REGISTERED || st.state === LinkState.REGISTERING);

  function setAccount(st) {
    const before = accounts.get(st.name);
    accounts.set(st.name, st);
    if (!before || before.state !== st.state) {
      document.dispatchEvent(new CustomEvent('switchboard:phone', { detail: { event: 'registration', account: st.name, state: st.state } }));
    }
    const li = document.querySelector(`li.account[data-account="${CSS.escape(st.name)}"]`);
    if (li) {
      li.dataset.state = st.state;
      let words = linkWords[st.state] || st.state;
      const why = st.error && st.state !== LinkState.REGISTERED ? regWords(st) : '';
      if (why) words += ' — ' + why;
      li.querySelector('.state').textContent = words;
    }
    // Dials that waited for this account go now, or fail with the reason.
    for (const [id, d] of [...dials]) {
      if (d.account !== st.name || !d.waiting) continue;
      if (st.state === LinkState.REGISTERED) {
        d.waiting = false;
        send({ type: MessageType.DIAL, id, account: d.account, to: d.to });
      } else if (!usable(st)) {
        dials.delete(id);
        failedAttempt(d.to, T('js.phone.dial.not_registered', { Account: d.account, Why: regWords(st) || linkWords[st.state] || st.state }));
      }
    }
    render();
  }

  // whyNoDial says why the Call button is off for the chosen account;
  // empty when it can dial.
  function whyNoDial() {
    const a = fromAccount();
    const st = accounts.get(a);
    if (offline || !ws) return '';
    if (!st) return T('js.phone.dial.wait_status', { Account: a });
    if (usable(st)) return '';
    const why = regWords(st);
    return why ? T('js.phone.dial.not_registered', { Account: a, Why: why }) : T('js.phone.dial.not_registered_plain', { Account: a });
  }

  function fromAccount() {
    return el.accountSelect ? el.accountSelect.value : boot.accounts[0];
  }

  function who(c) {
    const r = c.remote || {};
    return r.name ? `${r.name} (${r.number})` : (r.number || T('party.unknown'));
  }

  // emit tells the page around the softphone what happens
  // (static/embedframe.js passes it on to a portal that frames us): one
  // DOM event per change, with the far end's number and name.
  const told = new Map();
  function emit(event, c) {
    const r = c.remote || {};
    const detail = { event, call: c.id, direction: c.direction, account: c.account || '', number: r.number || '', name: r.name || '' };
    document.dispatchEvent(new CustomEvent('switchboard:phone', { detail }));
  }
  // tell emits a call's event once per change of what the portal sees.
  function tell(c) {
    let ev = null;
    if (c.state === CallState.ENDED) ev = 'call.ended';
    else if (isConnected(c) && isHeld(c)) ev = 'call.held';
    else if (isConnected(c)) ev = 'call.answered';
    else if (c.state === CallState.RINGING || c.state === CallState.EARLY) ev = 'call.ringing';
    if (!ev) return;
    const was = told.get(c.id);
    if (was === ev) return;
    // A resumed call is answered again, as the portal sees it.
    if (ev === 'call.ended') told.delete(c.id); else told.set(c.id, ev);
    if (ev === 'call.ended' && was === undefined) return; // never seen: nothing to end
    emit(ev, c);
  }

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  // A call is held when either side holds it; heldByUs when this page does.
  const isHeld = (c) => c.media === MediaState.LOCAL_HOLD || c.media === MediaState.REMOTE_HOLD || c.media === MediaState.INACTIVE;
  const heldByUs = (c) => c.media === MediaState.LOCAL_HOLD || c.media === MediaState.INACTIVE;
  const isConnected = (c) => c.state === CallState.CONNECTED;

  // liveCall is the call the controls act on: the one the page's audio is
  // joined to (media active), else the one the page chose last, else the
  // newest.
  function liveCall() {
    for (const e of calls.values()) if (e.call.media === MediaState.ACTIVE) return e.call;
    if (focusId && calls.has(focusId)) return calls.get(focusId).call;
    let last = null;
    for (const e of calls.values()) last = e.call;
    return last;
  }

  function statusText(c) {
    const Who = who(c);
    switch (c.state) {
      case CallState.TRYING: return T('js.phone.status.calling', { Who });
      case CallState.RINGING: case CallState.EARLY:
        return c.direction === 'inbound' ? T('js.phone.status.answering', { Who }) : T('js.phone.status.ringing', { Who });
    }
    switch (c.media) {
      case MediaState.ACTIVE: return T('js.phone.status.active', { Who });
      case MediaState.LOCAL_HOLD: return T('js.phone.status.local_hold', { Who });
      case MediaState.REMOTE_HOLD: return T('js.phone.status.remote_hold', { Who });
      case MediaState.INACTIVE: return T('js.phone.status.inactive', { Who });
      case MediaState.ERROR: return T('js.phone.status.error', { Who });
    }
    return T('js.phone.status.connecting', { Who });
  }

  function setStatus(state, text) {
    el.status.dataset.state = state;
    el.status.textContent = text;
  }

  // Call cards: one per call, made once and updated in place (a button
  // that is replaced under the pointer loses its click).
  function makeCard(id) {
    const li = document.createElement('li');
    li.className = 'call-card';
    li.dataset.testid = 'call-card';
    li.dataset.call = id;
    li.innerHTML = `
      <svg class="icon media-icon" aria-hidden="true"><use href="#icon-none"></use></svg>
      <div class="card-main">
        <p class="card-top"><span class="card-who" data-testid="call-who"></span><span class="card-time" data-testid="call-time"></span></p>
        <p class="card-media" data-testid="call-media"></p>
        <p class="card-transfer" data-testid="call-transfer" hidden></p>
        <p class="card-digits" data-testid="call-digits" hidden></p>
      </div>
      <div class="card-actions">
        <button type="button" class="card-resume" data-testid="call-resume" hidden></button>
        <button type="button" class="card-hangup hangup" data-testid="call-hangup"></button>
      </div>`;
    li.querySelector('.card-resume').textContent = T('js.phone.resume');
    li.querySelector('.card-hangup').textContent = T('action.hangup');
    li.querySelector('.card-resume').addEventListener('click', () => resume(id));
    li.querySelector('.card-hangup').addEventListener('click', () => hangup(id));
    return li;
  }

  function updateCard(e, live) {
    const c = e.call, li = e.card;
    li.dataset.state = c.state;
    li.dataset.media = c.media;
    li.dataset.live = String(!!live && live.id === c.id);
    li.classList.toggle('held', isConnected(c) && isHeld(c));
    li.querySelector('use').setAttribute('href', '#icon-' + (mediaWords[c.media] ? c.media : MediaState.NONE));
    let note = '';
    if (c.transferred_from) note = ' ' + T('js.phone.note.transferred');
    if (consult && consult.callId === c.id) note = ' ' + T('js.phone.note.target');
    li.querySelector('.card-who').textContent = who(c) + note;
    let media;
    if (c.state === CallState.ENDED) media = endWords(c);
    else if (!isConnected(c) && c.media === MediaState.NONE) media = stateWords[c.state] || c.state;
    else media = `${mediaWords[c.media] || c.media}${c.media === MediaState.ERROR && c.message ? ': ' + c.message : ''}`;
    li.querySelector('.card-media').textContent = media;
    const time = li.querySelector('.card-time');
    if (isConnected(c) && isHeld(c) && e.heldSince) time.textContent = T(c.media === MediaState.INACTIVE ? 'js.phone.time.no_audio' : 'js.phone.time.held', { Time: clock(Date.now() - e.heldSince) });
    else if (c.answered) time.textContent = clock(Date.now() - Date.parse(c.answered));
    else time.textContent = '';
    // A failed transfer is shown for a while, and until the next one.
    const tr = li.querySelector('.card-transfer');
    const stale = c.transfer && c.transfer.state === TransferState.FAILED &&
      ((e.failedAt && Date.now() - e.failedAt > FAILED_TRANSFER_MS) || (consult && consult.origin === c.id && !consult.completing));
    tr.hidden = !c.transfer || stale;
    if (c.transfer) {
      tr.dataset.state = c.transfer.state;
      tr.textContent = c.transfer.message || c.transfer.state;
    }
    const dg = li.querySelector('.card-digits');
    const parts = [];
    if (e.digitsIn) parts.push(T('js.phone.digits.in', { Digits: e.digitsIn }));
    if (e.digitsOut) parts.push(T('js.phone.digits.out', { Digits: e.digitsOut }));
    dg.hidden = parts.length === 0;
    dg.textContent = parts.join(' · ');
    // The live call hangs up with the main button; the others here.
    li.querySelector('.card-hangup').hidden = !!(live && live.id === c.id);
    const res = li.querySelector('.card-resume');
    res.hidden = !isConnected(c) || !!(live && live.id === c.id && !heldByUs(c));
    res.textContent = heldByUs(c) ? T('js.phone.resume') : T('js.phone.switch');
  }

  function render() {
    const live = liveCall();
    // Cards, in the calls' order.
    for (const [id, e] of calls) {
      if (!e.card) { e.card = makeCard(id); el.calls.append(e.card); }
      updateCard(e, live);
    }
    for (const li of [...el.calls.children]) if (!calls.has(li.dataset.call)) li.remove();

    // The status line and timer follow the live call.
    if (offline) {
      // The offline message stays until the server is back.
    } else if (live) {
      setStatus(live.state, statusText(live));
    } else if (dials.size) {
      const d = [...dials.values()].pop();
      if (d.waiting) setStatus(PageState.WAITING, T('js.phone.status.waiting', { Account: d.account, To: d.to }));
      else setStatus(CallState.TRYING, T('js.phone.status.calling', { Who: d.to }));
    } else if (lastEnded) {
      setStatus(CallState.ENDED, endWords(lastEnded));
    } else {
      setStatus(PageState.IDLE, T('js.phone.ready'));
    }
    el.timer.textContent = live && live.answered ? clock(Date.now() - Date.parse(live.answered)) : '0:00';

    // Controls.
    const liveOn = !!live && isConnected(live);
    el.hangup.disabled = !live && dials.size === 0;
    el.mute.disabled = !liveOn;
    el.hold.disabled = !liveOn;
    el.hold.setAttribute('aria-pressed', String(liveOn && heldByUs(live)));
    el.hold.firstChild.textContent = (liveOn && heldByUs(live) ? T('js.phone.resume') : T('js.phone.hold')) + ' ';
    el.transfer.disabled = !liveOn || !!consult;
    if (!liveOn || consult) closeTransfer();
    const lines = calls.size + dials.size;
    const noDial = whyNoDial();
    el.call.disabled = offline || !ws || lines >= MAX_CALLS || noDial !== '';
    el.call.textContent = calls.size ? T('js.phone.add_call') : T('js.phone.call');
    el.call.title = calls.size ? T('js.phone.add_call_title') : '';
    el.dialWhy.hidden = noDial === '';
    el.dialWhy.textContent = noDial;
    el.keypadMode.hidden = !liveOn;
    if (liveOn) el.keypadMode.textContent = T('js.phone.keypad_tones', { Who: who(live) });

    // Attended transfer.
    el.consultPanel.hidden = !consult;
    if (consult) {
      const o = calls.get(consult.origin), k = consult.callId && calls.get(consult.callId);
      const Target = k ? who(k.call) : (dials.get(consult.dialId) || {}).to || T('js.phone.the_target');
      const Caller = o ? who(o.call) : T('js.phone.the_caller');
      el.consultText.textContent = consult.completing ? T('js.phone.consult.completing', { Caller, Target })
        : T('js.phone.consult.talk', { Caller, Target });
      el.transferComplete.disabled = consult.completing || !k || !isConnected(k.call);
    }

    // Ringing: the big panel on an idle page, a discreet one during a call.
    const first = ringing.values().next().value;
    const waiting = !!first && calls.size > 0;
    el.incoming.hidden = !first || waiting;
    el.waiting.hidden = !waiting;
    document.body.classList.toggle('ringing', !!first && !waiting);
    if (first) {
      el.incomingFrom.textContent = T('js.phone.on_account', { Who: who(first), Account: first.account });
      el.waitingFrom.textContent = T('js.phone.on_account', { Who: who(first), Account: first.account });
    }
    ringTone(first ? (waiting ? 'soft' : 'loud') : null);

    if ((calls.size || ringing.size) && !ticker) ticker = setInterval(render, 1000);
    if (!calls.size && !ringing.size && ticker) { clearInterval(ticker); ticker = 0; }
  }

  // Ring tones, played locally (never into the call): on an idle page two
  // tones, 1 s on, 2 s off; during a call a soft double beep every 5 s.
  function ringTone(kind) {
    if (tone && tone.kind === kind) return;
    if (tone) {
      clearInterval(tone.h);
      tone.ctx.close();
      if (tone.note) tone.note.close();
      tone = null;
    }
    if (!kind) return;
    const first = ringing.values().next().value;
    try {
      const ctx = new AudioContext();
      const gain = ctx.createGain();
      gain.gain.value = 0;
      gain.connect(ctx.destination);
      for (const f of kind === 'loud' ? [440, 480] : [440]) {
        const o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
      }
      let h;
      if (kind === 'loud') {
        let on = false;
        h = setInterval(() => { on = !on; gain.gain.value = on ? 0.1 : 0; }, 1000);
      } else {
        const beep = () => {
          const t = ctx.currentTime;
          for (const at of [0, 0.3]) {
            gain.gain.setValueAtTime(0.03, t + at);
            gain.gain.setValueAtTime(0, t + at + 0.15);
          }
        };
        beep();
        h = setInterval(beep, 5000);
      }
      tone = { kind, ctx, h };
    } catch (e) {
      tone = { kind, ctx: { close() {} }, h: 0 }; // no audio output: the panel still shows
    }
    if (document.hidden && first && 'Notification' in window && Notification.permission === 'granted') {
      const n = new Notification(kind === 'loud' ? T('js.phone.notify.incoming') : T('js.phone.notify.waiting'), { body: who(first), tag: first.id });
      n.onclick = () => { window.focus(); n.close(); };
      tone.note = n;
    }
  }

  function setMuted(m) {
    if (micStream) micStream.getAudioTracks().forEach((t) => { t.enabled = !m; });
    el.mute.setAttribute('aria-pressed', String(m));
    el.mute.textContent = m ? T('js.phone.unmute') : T('js.phone.mute');
  }

  // Media: the microphone is opened before the offer (the browser gathers
  // local candidates only after getUserMedia).
  async function openMic(deviceId) {
    const s = await navigator.mediaDevices.getUserMedia({ audio: deviceId ? { deviceId: { exact: deviceId } } : true });
    if (micStream) micStream.getTracks().forEach((t) => t.stop());
    micStream = s;
    return s.getAudioTracks()[0];
  }

  function gathered(p) {
    if (p.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (p.iceGatheringState === 'complete') { p.removeEventListener('icegatheringstatechange', done); resolve(); } };
      p.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, 3000);
    });
  }

  // micRefusedByFrame tells a microphone the portal's iframe did not
  // delegate (no allow="microphone") from one the user refused.
  function micRefusedByFrame(e) {
    if (window.self === window.top || !e || e.name !== 'NotAllowedError') return false;
    const pol = document.permissionsPolicy || document.featurePolicy;
    return !pol || typeof pol.allowsFeature !== 'function' || !pol.allowsFeature('microphone');
  }

  async function startMedia(iceServers) {
    let track;
    try {
      track = await openMic(el.mic.value);
    } catch (e) {
      showError(T(micRefusedByFrame(e) ? 'js.phone.error.mic_frame' : 'js.phone.error.mic_open'));
      return;
    }
    pc = new RTCPeerConnection({ iceServers: (iceServers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })) });
    sender = pc.addTrack(track, micStream);
    pc.ontrack = (e) => { el.audio.srcObject = e.streams[0] || new MediaStream([e.track]); };
    pc.onconnectionstatechange = () => {
      if (pc && pc.connectionState === 'failed') showError(T('js.phone.error.audio_failed'));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    send({ type: MessageType.SDP, sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    listDevices();
  }

  async function onSDP(d) {
    try {
      await pc.setRemoteDescription(d);
      if (d.type === 'offer') {
        // The server switches the codec for a call: answer on the live
        // connection (ICE and DTLS stay).
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: MessageType.SDP, sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      }
    } catch (e) {
      showError(T('js.phone.error.sdp', { Detail: e.message }));
    }
  }

  async function listDevices() {
    const devs = await navigator.mediaDevices.enumerateDevices();
    const fill = (sel, kind) => {
      const keep = sel.value;
      sel.replaceChildren(...devs.filter((d) => d.kind === kind).map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || T(kind === 'audioinput' ? 'js.phone.mic_n' : 'js.phone.speaker_n', { N: i + 1 });
        return o;
      }));
      if (keep) sel.value = keep;
    };
    fill(el.mic, 'audioinput');
    if (typeof el.audio.setSinkId === 'function') fill(el.speaker, 'audiooutput');
    else el.speaker.disabled = true;
  }

  el.mic.addEventListener('change', async () => {
    try {
      const t = await openMic(el.mic.value);
      if (sender) await sender.replaceTrack(t);
      setMuted(el.mute.getAttribute('aria-pressed') === 'true');
    } catch (e) { showError(T('js.phone.error.mic_select')); }
  });
  el.speaker.addEventListener('change', () => {
    el.audio.setSinkId(el.speaker.value).catch(() => showError(T('js.phone.error.speaker_select')));
  });

  // attempts are this page's dials that never became a call (refused by
  // the server, or their account could not register), newest first; they
  // lead the recent calls, saying that they failed and why.
  const attempts = [];
  let history = [];
  function failedAttempt(to, why) {
    attempts.unshift({ to, why: why || '', at: Date.now() });
    attempts.splice(5);
    showRecent();
  }

  // The words of a call in the recent list: its direction and how it
  // ended; a failed one says why.
  function recentWords(c) {
    const inbound = c.direction === 'inbound';
    const answered = c.answered && !c.answered.startsWith('0001-01-01');
    let res;
    if (answered) res = T('result.answered');
    else if (c.reason === 'answered-elsewhere') res = T('result.elsewhere');
    else if (inbound) res = T('result.missed');
    else {
      const why = endReasons[c.reason] && c.reason !== 'completed' ? T(endReasons[c.reason]) : (c.cause || '');
      res = why ? T('js.phone.recent.failed_why', { Why: why }) : T('js.phone.recent.failed');
    }
    return { text: `${T('direction.' + c.direction)} · ${res}`, missed: inbound && !answered && c.reason !== 'answered-elsewhere', failed: !inbound && !answered };
  }

  function redialButton(label, number) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'redial';
    b.dataset.testid = 'redial';
    b.textContent = label;
    b.title = T('js.phone.call_back');
    b.addEventListener('click', () => { el.dial.value = number; el.form.requestSubmit(); });
    return b;
  }

  function showRecent() {
    const items = attempts.map((a) => {
      const li = document.createElement('li');
      li.className = 'failed';
      li.dataset.testid = 'recent-attempt';
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${a.why ? T('js.phone.recent.failed_why', { Why: a.why }) : T('js.phone.recent.failed')} · ${SwitchboardTime.when(a.at)}`;
      li.append(redialButton(a.to, a.to), meta);
      return li;
    });
    for (const c of history.slice(0, 15)) {
      const li = document.createElement('li');
      const other = c.direction === 'inbound' ? c.from : c.to;
      const w = recentWords(c);
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${w.text} · ${SwitchboardTime.when(c.started)}`;
      li.append(redialButton(other.name ? `${other.name} (${other.number})` : other.number, other.number), meta);
      if (w.missed) li.classList.add('missed');
      if (w.failed) { li.classList.add('failed'); li.dataset.failed = 'true'; }
      items.push(li);
    }
    el.recent.replaceChildren(...items);
    el.recent.closest('section').hidden = items.length === 0 && !boot.history;
  }

  // Recent calls of this user's accounts, click to call back.
  async function loadRecent() {
    if (!boot.history) return;
    const all = [];
    for (const a of boot.accounts) {
      try {
        const r = await fetch(`/api/history?source=${encodeURIComponent(a)}&limit=10`, { credentials: 'same-origin' });
        if (r.ok) all.push(...(await r.json()).calls);
      } catch (e) { /* shown as an empty list */ }
    }
    all.sort((x, y) => Date.parse(y.started) - Date.parse(x.started));
    history = all;
    showRecent();
  }

  // Requests.
  function dial(to, consultFor) {
    const id = `d${++dialSeq}`;
    const account = fromAccount();
    // A dial waits while its account is still registering: sent at once
    // it would ring into the void until the server gives up.
    const st = accounts.get(account);
    const waiting = !st || st.state !== LinkState.REGISTERED;
    dials.set(id, { to, account, waiting });
    if (consultFor) consult = { origin: consultFor, dialId: id, callId: null, completing: false };
    if (!waiting) send({ type: MessageType.DIAL, id, account, to });
    render();
    return id;
  }
  function answer() {
    const c = ringing.values().next().value;
    if (!c) return;
    ringing.delete(c.id);
    calls.set(c.id, { call: c, heldSince: null, digitsIn: '', digitsOut: '' });
    focusId = c.id;
    send({ type: MessageType.ANSWER, call: c.id });
    render();
    if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission();
  }
  function decline() {
    const c = ringing.values().next().value;
    if (!c) return;
    ringing.delete(c.id);
    send({ type: MessageType.DECLINE, call: c.id });
    render();
  }
  function hangup(id) {
    if (id) { send({ type: MessageType.HANGUP, call: id }); return; }
    const live = liveCall();
    if (live) { send({ type: MessageType.HANGUP, call: live.id }); return; }
    // A dial before its first call message: cancelled by its id; one
    // still waiting for its account was never sent.
    for (const [did, d] of [...dials]) {
      if (d.waiting) { dials.delete(did); continue; }
      d.cancelled = true;
      send({ type: MessageType.HANGUP, id: did });
    }
    render();
  }
  function resume(id) {
    focusId = id;
    send({ type: MessageType.RESUME, call: id });
    render();
  }
  function toggleHold() {
    const live = liveCall();
    if (!live || !isConnected(live)) return;
    if (heldByUs(live)) resume(live.id);
    else send({ type: MessageType.HOLD, call: live.id });
  }
  function sendTones(digits) {
    const live = liveCall();
    if (!live || !isConnected(live)) return false;
    send({ type: MessageType.DTMF, call: live.id, digits });
    const e = calls.get(live.id);
    e.digitsOut = (e.digitsOut + digits).slice(-24);
    render();
    return true;
  }
  function openTransfer() {
    const live = liveCall();
    if (!live) return;
    el.transferWho.textContent = who(live);
    el.transferPanel.hidden = false;
    el.transfer.setAttribute('aria-expanded', 'true');
    el.transferInput.focus();
  }
  function closeTransfer() {
    el.transferPanel.hidden = true;
    el.transfer.setAttribute('aria-expanded', 'false');
  }
  // abortConsult hangs up the consultation and takes the caller back.
  function abortConsult() {
    if (!consult) return;
    const { origin, callId, dialId } = consult;
    consult = null;
    if (callId && calls.has(callId)) send({ type: MessageType.HANGUP, call: callId });
    else if (dials.has(dialId)) send({ type: MessageType.HANGUP, id: dialId });
    if (calls.has(origin)) resume(origin);
    render();
  }

  // Controls.
  document.querySelectorAll('.key').forEach((k) => k.addEventListener('click', () => {
    if (sendTones(k.dataset.key)) return;
    el.dial.value += k.dataset.key;
    el.dial.focus();
  }));
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const to = el.dial.value.trim();
    if (!to) { showError(T('js.phone.error.no_number')); return; }
    const why = whyNoDial();
    if (why) { showError(why); return; }
    clearError();
    el.dial.value = '';
    dial(to, null);
  });
  el.hangup.addEventListener('click', () => hangup(null));
  // Another account may be registered when this one is not.
  if (el.accountSelect) el.accountSelect.addEventListener('change', render);
  el.mute.addEventListener('click', () => setMuted(el.mute.getAttribute('aria-pressed') !== 'true'));
  el.hold.addEventListener('click', toggleHold);
  el.answer.addEventListener('click', answer);
  el.decline.addEventListener('click', decline);
  el.waitingAnswer.addEventListener('click', answer);
  el.waitingDecline.addEventListener('click', decline);
  el.transfer.addEventListener('click', () => (el.transferPanel.hidden ? openTransfer() : closeTransfer()));
  el.transferClose.addEventListener('click', closeTransfer);
  el.transferPanel.addEventListener('submit', (e) => {
    e.preventDefault();
    const live = liveCall(), to = el.transferInput.value.trim();
    if (!live || !to) { showError(T('js.phone.error.no_transfer_number')); return; }
    clearError();
    send({ type: MessageType.TRANSFER, call: live.id, to });
    el.transferInput.value = '';
    closeTransfer();
  });
  el.transferConsult.addEventListener('click', () => {
    const live = liveCall(), to = el.transferInput.value.trim();
    if (!live || !to) { showError(T('js.phone.error.no_transfer_number')); return; }
    clearError();
    el.transferInput.value = '';
    closeTransfer();
    dial(to, live.id);
  });
  el.transferComplete.addEventListener('click', () => {
    if (!consult || !consult.callId) return;
    consult.completing = true;
    send({ type: MessageType.TRANSFER, call: consult.origin, consult: consult.callId });
    render();
  });
  el.transferAbort.addEventListener('click', abortConsult);

  // Keyboard shortcuts, outside text fields: A answer, D decline, H hold
  // or resume, E hang up, digits send tones during a call, Escape closes
  // the transfer form.
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) return;
    if (e.key === 'Escape' && !el.transferPanel.hidden) { closeTransfer(); return; }
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (k === 'a' && ringing.size) answer();
    else if (k === 'd' && ringing.size) decline();
    else if (k === 'h') toggleHold();
    else if (k === 'e') hangup(null);
    else if (/^[0-9*#]$/.test(k)) { if (!sendTones(k)) return; }
    else return;
    e.preventDefault();
  });

  // onCall takes a call message: a call of this page, a ringing call that
  // ended, or the first message of one of our dials.
  function onCall(m) {
    const c = m.call;
    tell(c);
    if (ringing.has(c.id) && !calls.has(c.id)) {
      if (c.state === CallState.ENDED) {
        ringing.delete(c.id);
        if (!calls.size) lastEnded = c;
        loadRecent();
      }
      render();
      return;
    }
    let e = calls.get(c.id);
    if (!e) {
      if (c.state === CallState.ENDED && !(m.id && dials.has(m.id))) return;
      e = { call: c, heldSince: null, digitsIn: '', digitsOut: '' };
      calls.set(c.id, e);
      if (m.id && dials.has(m.id)) {
        dials.delete(m.id);
        focusId = c.id;
        if (consult && consult.dialId === m.id) consult.callId = c.id;
      } else if (c.transferred_from && (focusId === c.transferred_from || !focusId)) {
        // The far end transferred us: the new call takes the old one's
        // place.
        focusId = c.id;
      }
    }
    e.call = c;
    if (isConnected(c) && isHeld(c)) e.heldSince = e.heldSince || Date.now();
    else e.heldSince = null;
    if (c.media === MediaState.ACTIVE) focusId = c.id;
    if (c.transfer && c.transfer.state !== e.transferShown) {
      e.transferShown = c.transfer.state;
      if (c.transfer.state === TransferState.FAILED) {
        e.failedAt = Date.now();
        showError(c.transfer.message || T('js.phone.error.transfer'));
        if (consult && consult.origin === c.id) consult.completing = false;
      }
    }
    if (c.state === CallState.ENDED) {
      calls.delete(c.id);
      lastEnded = c;
      // Without a history the page keeps its own failed attempts.
      if (!boot.history && c.direction === 'outbound' && !c.answered) failedAttempt((c.remote || {}).number || who(c), endWords(c));
      if (focusId === c.id) focusId = null;
      if (consult && consult.callId === c.id && !consult.completing) {
        // The consultation ended without the transfer: back to the caller.
        const origin = consult.origin;
        consult = null;
        if (calls.has(origin)) resume(origin);
      } else if (consult && (consult.origin === c.id || consult.callId === c.id)) {
        // A completed transfer ends both calls; a caller who hung up
        // during the consultation ends the transfer.
        if (!consult.completing || (!calls.has(consult.origin) && !calls.has(consult.callId))) consult = null;
      }
      if (!calls.size) setMuted(false);
      loadRecent();
    }
    render();
  }

  function onMessage(m) {
    switch (m.type) {
      case MessageType.WELCOME:
        retry = 1000;
        offline = false;
        (m.accounts || []).forEach(setAccount);
        startMedia(m.ice_servers);
        render();
        break;
      case MessageType.REGISTRATION: setAccount(m.account); break;
      case MessageType.SDP: onSDP(m.sdp); break;
      case MessageType.INCOMING:
        ringing.set(m.call.id, m.call);
        tell(m.call);
        render();
        break;
      case MessageType.CALL: onCall(m); break;
      case MessageType.DTMF: {
        const e = calls.get(m.call);
        if (e) { e.digitsIn = (e.digitsIn + m.digits).slice(-24); render(); }
        break;
      }
      case MessageType.ERROR:
        showError(m.message);
        if (m.call && calls.has(m.call)) {
          // An answer that came too late: the call is not ours.
          const c = calls.get(m.call).call;
          if (c.direction === 'inbound' && c.state === CallState.RINGING) calls.delete(m.call);
        }
        if (m.id && dials.has(m.id)) {
          failedAttempt(dials.get(m.id).to, m.message);
          dials.delete(m.id);
          if (consult && consult.dialId === m.id) {
            const origin = consult.origin;
            consult = null;
            if (calls.has(origin)) resume(origin);
          }
        }
        render();
        break;
    }
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/phone';
    ws = new WebSocket(url);
    ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { showError(T('js.phone.error.bad_message')); } };
    ws.onclose = (e) => {
      const hadCall = calls.size > 0;
      if (pc) { pc.close(); pc = null; sender = null; }
      calls.clear(); ringing.clear(); dials.clear();
      consult = null; focusId = null; lastEnded = null;
      offline = true;
      render();
      // Capped exponential backoff with jitter, so that the pages of an
      // office do not all come back at the same moment after a restart.
      // 1008 (policy) ends a socket whose sign-in is gone (sign-out,
      // changed credentials, expiry): the page asks for it again; or one
      // over a cap: the page says so and waits long before trying again.
      const signedOut = e.code === 1008 && /^(signed out|session expired|sign-in changed)/.test(e.reason);
      if (signedOut) {
        location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
        return;
      }
      const capped = e.code === 1008 && /^(too many open sockets|server full)/.test(e.reason);
      if (capped) retry = 30000;
      const delay = Math.round(retry * (0.75 + Math.random() / 2));
      retry = Math.min(retry * 2, 30000);
      const secs = Math.max(1, Math.round(delay / 1000));
      if (capped) {
        setStatus(PageState.OFFLINE, T('js.phone.offline.capped', { Reason: e.reason, Count: secs }));
      } else if (e.code === 1001) {
        // Going away: the server is shutting down or restarting.
        setStatus(PageState.OFFLINE, T(hadCall ? 'js.phone.offline.restart_call' : 'js.phone.offline.restart', { Count: secs }));
      } else {
        setStatus(PageState.OFFLINE, T('js.phone.offline.lost', { Count: secs }));
        // A refused handshake hides its status: after a restart the
        // sign-in may be gone, and the page must ask for it again.
        fetch('/api/calls', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
          .then((r) => { if (r.status === 401) location.href = '/login?next=/softphone'; })
          .catch(() => { /* the server is not back yet: keep trying */ });
      }
      el.call.disabled = true;
      document.querySelectorAll('li.account').forEach((li) => { li.dataset.state = PageState.OFFLINE; li.querySelector('.state').textContent = T('js.phone.link.offline'); });
      accounts.clear();
      setTimeout(connect, delay);
    };
  }

  // Commands from the page around the softphone (embedframe.js): the
  // same actions as the buttons, with the same checks.
  document.addEventListener('switchboard:command', (e) => {
    const d = e.detail || {};
    const live = liveCall();
    switch (d.command) {
      case 'dial':
        if (typeof d.number !== 'string' || !d.number.trim()) return;
        el.dial.value = d.number.trim();
        el.form.requestSubmit();
        break;
      case 'answer': answer(); break;
      case 'hangup': hangup(null); break;
      case 'hold': if (live && isConnected(live) && !heldByUs(live)) toggleHold(); break;
      case 'resume': if (live && heldByUs(live)) resume(live.id); break;
      case 'transfer':
        if (!live || typeof d.number !== 'string' || !d.number.trim()) return;
        send({ type: MessageType.TRANSFER, call: live.id, to: d.number.trim() });
        break;
    }
  });

  if (!boot.accounts.length || !$('dial-form')) return;
  if (!boot.history) el.recent.closest('section').hidden = true;
  render();
  connect();
  loadRecent();
})();
