// Softphone page: the browser is a telephone on the office PBX. Signalling
// goes over the /phone WebSocket (JSON, see the README); audio over one
// RTCPeerConnection that is set up when the page opens and kept across
// calls: the server moves it between calls (call waiting, swap, a transfer
// to us) and renegotiates it only when a call's codec differs.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const boot = JSON.parse($('phone-boot').textContent);
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
    accountSelect: $('account-select'),
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
  const PageState = Object.freeze({ IDLE: 'idle', OFFLINE: 'offline' });
  // A SIP account's registration (monitor.LinkState in the account status).
  const LinkState = Object.freeze({
    REGISTERING: 'registering', REGISTERED: 'registered', RETRYING: 'retrying', FAILED: 'failed',
  });
  // The calls a page may have at once (gateway maxCalls).
  const MAX_CALLS = 4;
  // How long a failed transfer stays on its call's card.
  const FAILED_TRANSFER_MS = 20000;

  const linkWords = Object.freeze({
    [LinkState.REGISTERED]: 'Registered', [LinkState.REGISTERING]: 'Registering…',
    [LinkState.RETRYING]: 'Retrying', [LinkState.FAILED]: 'Not registered',
  });
  const stateWords = Object.freeze({
    [CallState.TRYING]: 'Calling', [CallState.RINGING]: 'Ringing', [CallState.EARLY]: 'Ringing',
    [CallState.CONNECTED]: 'Connected', [CallState.ENDED]: 'Call ended',
  });
  const mediaWords = Object.freeze({
    [MediaState.NONE]: 'Connecting audio…', [MediaState.ACTIVE]: 'Audio connected',
    [MediaState.LOCAL_HOLD]: 'On hold', [MediaState.REMOTE_HOLD]: 'Held by the other side',
    [MediaState.INACTIVE]: 'No audio either way', [MediaState.ERROR]: 'Audio lost',
  });

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

  function setAccount(st) {
    const li = document.querySelector(`li.account[data-account="${CSS.escape(st.name)}"]`);
    if (!li) return;
    li.dataset.state = st.state;
    let words = linkWords[st.state] || st.state;
    if (st.error) words += ': ' + st.error;
    li.querySelector('.state').textContent = words;
  }

  function fromAccount() {
    return el.accountSelect ? el.accountSelect.value : boot.accounts[0];
  }

  function who(c) {
    const r = c.remote || {};
    return r.name ? `${r.name} (${r.number})` : (r.number || 'Unknown');
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
    const w = who(c);
    switch (c.state) {
      case CallState.TRYING: return `Calling ${w}`;
      case CallState.RINGING: case CallState.EARLY:
        return c.direction === 'inbound' ? `Answering ${w}…` : `Ringing ${w}`;
    }
    switch (c.media) {
      case MediaState.ACTIVE: return `On a call with ${w}`;
      case MediaState.LOCAL_HOLD: return `${w} is on hold`;
      case MediaState.REMOTE_HOLD: return `${w} has put you on hold`;
      case MediaState.INACTIVE: return `No audio with ${w}`;
      case MediaState.ERROR: return `Audio lost with ${w}`;
    }
    return `Connecting the audio with ${w}…`;
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
        <button type="button" class="card-resume" data-testid="call-resume" hidden>Resume</button>
        <button type="button" class="card-hangup hangup" data-testid="call-hangup">Hang up</button>
      </div>`;
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
    if (c.transferred_from) note = ' (transferred to you)';
    if (consult && consult.callId === c.id) note = ' (transfer target)';
    li.querySelector('.card-who').textContent = who(c) + note;
    let media;
    if (c.state === CallState.ENDED) media = c.message || stateWords[CallState.ENDED];
    else if (!isConnected(c) && c.media === MediaState.NONE) media = stateWords[c.state] || c.state;
    else media = `${mediaWords[c.media] || c.media}${c.media === MediaState.ERROR && c.message ? ': ' + c.message : ''}`;
    li.querySelector('.card-media').textContent = media;
    const time = li.querySelector('.card-time');
    if (isConnected(c) && isHeld(c) && e.heldSince) time.textContent = `${c.media === MediaState.INACTIVE ? 'no audio' : 'held'} ${clock(Date.now() - e.heldSince)}`;
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
    if (e.digitsIn) parts.push(`They pressed: ${e.digitsIn}`);
    if (e.digitsOut) parts.push(`You sent: ${e.digitsOut}`);
    dg.hidden = parts.length === 0;
    dg.textContent = parts.join(' · ');
    // The live call hangs up with the main button; the others here.
    li.querySelector('.card-hangup').hidden = !!(live && live.id === c.id);
    const res = li.querySelector('.card-resume');
    res.hidden = !isConnected(c) || !!(live && live.id === c.id && !heldByUs(c));
    res.textContent = heldByUs(c) ? 'Resume' : 'Switch to this call';
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
      setStatus(CallState.TRYING, `Calling ${[...dials.values()].pop().to}`);
    } else if (lastEnded) {
      setStatus(CallState.ENDED, lastEnded.message || stateWords[CallState.ENDED]);
    } else {
      setStatus(PageState.IDLE, 'Ready');
    }
    el.timer.textContent = live && live.answered ? clock(Date.now() - Date.parse(live.answered)) : '0:00';

    // Controls.
    const liveOn = !!live && isConnected(live);
    el.hangup.disabled = !live && dials.size === 0;
    el.mute.disabled = !liveOn;
    el.hold.disabled = !liveOn;
    el.hold.setAttribute('aria-pressed', String(liveOn && heldByUs(live)));
    el.hold.firstChild.textContent = liveOn && heldByUs(live) ? 'Resume ' : 'Hold ';
    el.transfer.disabled = !liveOn || !!consult;
    if (!liveOn || consult) closeTransfer();
    const lines = calls.size + dials.size;
    el.call.disabled = offline || !ws || lines >= MAX_CALLS;
    el.call.textContent = calls.size ? 'Add call' : 'Call';
    el.call.title = calls.size ? 'Call another number; the current call is put on hold' : '';
    el.keypadMode.hidden = !liveOn;
    if (liveOn) el.keypadMode.textContent = `The keypad sends tones to ${who(live)}`;

    // Attended transfer.
    el.consultPanel.hidden = !consult;
    if (consult) {
      const o = calls.get(consult.origin), k = consult.callId && calls.get(consult.callId);
      const target = k ? who(k.call) : (dials.get(consult.dialId) || {}).to || 'the target';
      el.consultText.textContent = consult.completing ? `Transferring ${o ? who(o.call) : 'the caller'} to ${target}…`
        : `Talk to ${target} first, then complete the transfer of ${o ? who(o.call) : 'the caller'}.`;
      el.transferComplete.disabled = consult.completing || !k || !isConnected(k.call);
    }

    // Ringing: the big panel on an idle page, a discreet one during a call.
    const first = ringing.values().next().value;
    const waiting = !!first && calls.size > 0;
    el.incoming.hidden = !first || waiting;
    el.waiting.hidden = !waiting;
    document.body.classList.toggle('ringing', !!first && !waiting);
    if (first) {
      el.incomingFrom.textContent = `${who(first)} on ${first.account}`;
      el.waitingFrom.textContent = `${who(first)} on ${first.account}`;
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
      const n = new Notification(kind === 'loud' ? 'Incoming call' : 'Call waiting', { body: who(first), tag: first.id });
      n.onclick = () => { window.focus(); n.close(); };
      tone.note = n;
    }
  }

  function setMuted(m) {
    if (micStream) micStream.getAudioTracks().forEach((t) => { t.enabled = !m; });
    el.mute.setAttribute('aria-pressed', String(m));
    el.mute.textContent = m ? 'Unmute' : 'Mute';
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

  async function startMedia(iceServers) {
    let track;
    try {
      track = await openMic(el.mic.value);
    } catch (e) {
      showError('The microphone could not be opened. Allow microphone access for this page and reload it.');
      return;
    }
    pc = new RTCPeerConnection({ iceServers: (iceServers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })) });
    sender = pc.addTrack(track, micStream);
    pc.ontrack = (e) => { el.audio.srcObject = e.streams[0] || new MediaStream([e.track]); };
    pc.onconnectionstatechange = () => {
      if (pc && pc.connectionState === 'failed') showError('The audio connection to the server failed. Check the network and reload the page.');
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
      showError('The audio settings could not be agreed with the server: ' + e.message);
    }
  }

  async function listDevices() {
    const devs = await navigator.mediaDevices.enumerateDevices();
    const fill = (sel, kind) => {
      const keep = sel.value;
      sel.replaceChildren(...devs.filter((d) => d.kind === kind).map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${kind === 'audioinput' ? 'Microphone' : 'Speaker'} ${i + 1}`;
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
    } catch (e) { showError('That microphone could not be opened.'); }
  });
  el.speaker.addEventListener('change', () => {
    el.audio.setSinkId(el.speaker.value).catch(() => showError('That speaker could not be selected.'));
  });

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
    el.recent.replaceChildren(...all.slice(0, 15).map((c) => {
      const li = document.createElement('li');
      const other = c.direction === 'inbound' ? c.from : c.to;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'redial';
      b.dataset.testid = 'redial';
      b.textContent = other.name ? `${other.name} (${other.number})` : other.number;
      b.title = 'Call back';
      b.addEventListener('click', () => { el.dial.value = other.number; el.form.requestSubmit(); });
      const meta = document.createElement('span');
      meta.className = 'meta';
      const missed = c.direction === 'inbound' && !c.answered;
      meta.textContent = `${missed ? 'missed' : c.direction} · ${new Date(c.started).toLocaleString()}`;
      li.append(b, meta);
      if (missed) li.classList.add('missed');
      return li;
    }));
  }

  // Requests.
  function dial(to, consultFor) {
    const id = `d${++dialSeq}`;
    dials.set(id, { to });
    if (consultFor) consult = { origin: consultFor, dialId: id, callId: null, completing: false };
    send({ type: MessageType.DIAL, id, account: fromAccount(), to });
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
    // A dial before its first call message: cancelled by its id.
    for (const [did, d] of dials) { d.cancelled = true; send({ type: MessageType.HANGUP, id: did }); }
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
    if (!to) { showError('Enter a number to call.'); return; }
    clearError();
    el.dial.value = '';
    dial(to, null);
  });
  el.hangup.addEventListener('click', () => hangup(null));
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
    if (!live || !to) { showError('Enter the number to transfer to.'); return; }
    clearError();
    send({ type: MessageType.TRANSFER, call: live.id, to });
    el.transferInput.value = '';
    closeTransfer();
  });
  el.transferConsult.addEventListener('click', () => {
    const live = liveCall(), to = el.transferInput.value.trim();
    if (!live || !to) { showError('Enter the number to transfer to.'); return; }
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
        showError(c.transfer.message || 'The transfer did not go through.');
        if (consult && consult.origin === c.id) consult.completing = false;
      }
    }
    if (c.state === CallState.ENDED) {
      calls.delete(c.id);
      lastEnded = c;
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
    ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { showError('The server sent something this page does not understand.'); } };
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
        setStatus(PageState.OFFLINE, `The server refused this page: ${e.reason}. Close other softphone tabs; trying again in ${secs} s…`);
      } else if (e.code === 1001) {
        // Going away: the server is shutting down or restarting.
        setStatus(PageState.OFFLINE, 'The server is restarting or shutting down' + (hadCall ? ' and ended your call' : '') + `. Reconnecting in ${secs} s…`);
      } else {
        setStatus(PageState.OFFLINE, `Disconnected from the server — reconnecting in ${secs} s…`);
        // A refused handshake hides its status: after a restart the
        // sign-in may be gone, and the page must ask for it again.
        fetch('/api/calls', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
          .then((r) => { if (r.status === 401) location.href = '/login?next=/softphone'; })
          .catch(() => { /* the server is not back yet: keep trying */ });
      }
      el.call.disabled = true;
      document.querySelectorAll('li.account').forEach((li) => { li.dataset.state = PageState.OFFLINE; li.querySelector('.state').textContent = 'Offline'; });
      setTimeout(connect, delay);
    };
  }

  if (!boot.accounts.length || !$('dial-form')) return;
  if (!boot.history) el.recent.closest('section').hidden = true;
  connect();
  loadRecent();
})();
