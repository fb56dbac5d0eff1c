// Softphone page: the browser is a telephone on the office PBX. Signalling
// goes over the /phone WebSocket (JSON, see the README); audio over one
// RTCPeerConnection that is set up when the page opens and kept across
// calls: the server renegotiates it for each call's codec.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const boot = JSON.parse($('phone-boot').textContent);
  const el = {
    errors: $('phone-errors'), status: $('call-status'), timer: $('call-timer'),
    dial: $('dial'), form: $('dial-form'), call: $('call'), hangup: $('hangup'), mute: $('mute'),
    incoming: $('incoming'), incomingFrom: $('incoming-from'), answer: $('answer'), decline: $('decline'),
    mic: $('mic'), speaker: $('speaker'), recent: $('recent'), audio: $('remote-audio'),
    accountSelect: $('account-select'),
  };
  // /softphone?dial=NUMBER, the history's click-to-call, fills the dial
  // field; calling stays the user's press of Call.
  const dialParam = new URLSearchParams(location.search).get('dial');
  if (dialParam && el.dial) el.dial.value = dialParam.trim().slice(0, 256);
  let ws = null, pc = null, sender = null, micStream = null;
  let current = null;      // the call on this page (PhoneCall JSON)
  let ringingCall = null;  // the call ringing here
  let timerHandle = 0, ring = null, retry = 1000;

  // A call's state as the /phone protocol sends it (PhoneCall.state): the
  // values of sipbridge.CallState, which a test keeps equal to this set.
  // The page names a state only through this object.
  const CallState = Object.freeze({
    TRYING: 'trying', RINGING: 'ringing', EARLY: 'early', CONNECTED: 'connected', ENDED: 'ended',
  });
  // What the call-status line shows when there is no call.
  const PageState = Object.freeze({ IDLE: 'idle', OFFLINE: 'offline' });
  // A SIP account's registration (monitor.LinkState in the account status).
  const LinkState = Object.freeze({
    REGISTERING: 'registering', REGISTERED: 'registered', RETRYING: 'retrying', FAILED: 'failed',
  });

  const linkWords = Object.freeze({
    [LinkState.REGISTERED]: 'Registered', [LinkState.REGISTERING]: 'Registering…',
    [LinkState.RETRYING]: 'Retrying', [LinkState.FAILED]: 'Not registered',
  });
  const callWords = Object.freeze({
    [CallState.TRYING]: 'Calling', [CallState.RINGING]: 'Ringing', [CallState.EARLY]: 'Ringing',
    [CallState.CONNECTED]: 'On a call with', [CallState.ENDED]: 'Call ended',
  });

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

  // Call display.
  function setStatus(state, text) {
    el.status.dataset.state = state;
    el.status.textContent = text;
  }
  function startTimer(from) {
    stopTimer();
    const t0 = from ? Date.parse(from) : Date.now();
    const tick = () => {
      const s = Math.max(0, Math.floor((Date.now() - t0) / 1000));
      el.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    };
    tick();
    timerHandle = setInterval(tick, 1000);
  }
  function stopTimer() { clearInterval(timerHandle); timerHandle = 0; }

  function showCall(c) {
    if (c.state === CallState.ENDED) {
      setStatus(CallState.ENDED, c.message || callWords[CallState.ENDED]);
      stopTimer();
      if (current && current.id === c.id) current = null;
      if (ringingCall && ringingCall.id === c.id) stopRinging();
      el.hangup.disabled = true; el.mute.disabled = true; el.call.disabled = false;
      setMuted(false);
      loadRecent();
      return;
    }
    current = c;
    setStatus(c.state, `${callWords[c.state] || c.state} ${who(c)}`);
    el.hangup.disabled = false; el.call.disabled = true;
    el.mute.disabled = c.state !== CallState.CONNECTED;
    if (c.state === CallState.CONNECTED && !timerHandle) startTimer(c.answered);
  }

  // Ringing: a WebAudio ring (two tones, 1 s on, 2 s off), the panel, and a
  // notification when the tab is hidden.
  function startRinging(c) {
    ringingCall = c;
    el.incomingFrom.textContent = `${who(c)} on ${c.account}`;
    el.incoming.hidden = false;
    document.body.classList.add('ringing');
    try {
      const ctx = new AudioContext();
      const gain = ctx.createGain();
      gain.gain.value = 0;
      gain.connect(ctx.destination);
      for (const f of [440, 480]) {
        const o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
      }
      let on = false;
      const h = setInterval(() => { on = !on; gain.gain.value = on ? 0.1 : 0; }, 1000);
      ring = { ctx, h };
    } catch (e) { /* no audio output: the panel still shows */ }
    if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
      const n = new Notification('Incoming call', { body: who(c), tag: c.id });
      n.onclick = () => { window.focus(); n.close(); };
      ring && (ring.note = n);
    }
  }
  function stopRinging() {
    ringingCall = null;
    el.incoming.hidden = true;
    document.body.classList.remove('ringing');
    if (ring) {
      clearInterval(ring.h);
      ring.ctx.close();
      if (ring.note) ring.note.close();
      ring = null;
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
    send({ type: 'sdp', sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    listDevices();
  }

  async function onSDP(d) {
    try {
      await pc.setRemoteDescription(d);
      if (d.type === 'offer') {
        // The server switches the codec for a call: answer on the live
        // connection (ICE and DTLS stay).
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: 'sdp', sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
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

  // Controls.
  document.querySelectorAll('.key').forEach((k) => k.addEventListener('click', () => {
    el.dial.value += k.dataset.key;
    el.dial.focus();
  }));
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const to = el.dial.value.trim();
    if (!to) { showError('Enter a number to call.'); return; }
    clearError();
    el.call.disabled = true;
    setStatus(CallState.TRYING, `${callWords[CallState.TRYING]} ${to}`);
    send({ type: 'dial', account: fromAccount(), to });
  });
  el.hangup.addEventListener('click', () => { if (current) send({ type: 'hangup', call: current.id }); });
  el.mute.addEventListener('click', () => setMuted(el.mute.getAttribute('aria-pressed') !== 'true'));
  el.answer.addEventListener('click', () => {
    if (!ringingCall) return;
    send({ type: 'answer', call: ringingCall.id });
    stopRinging();
    if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission();
  });
  el.decline.addEventListener('click', () => {
    if (!ringingCall) return;
    send({ type: 'decline', call: ringingCall.id });
    stopRinging();
  });

  function onMessage(m) {
    switch (m.type) {
      case 'welcome':
        retry = 1000;
        if (el.status.dataset.state === 'offline') {
          // Back after a disconnect: the page is ready to call again.
          el.call.disabled = false; el.hangup.disabled = true; el.mute.disabled = true;
          setStatus('idle', 'Ready');
        }
        (m.accounts || []).forEach(setAccount);
        startMedia(m.ice_servers);
        break;
      case 'registration': setAccount(m.account); break;
      case 'sdp': onSDP(m.sdp); break;
      case 'incoming': startRinging(m.call); break;
      case 'call':
        if (ringingCall && ringingCall.id === m.call.id && m.call.state === CallState.ENDED) {
          stopRinging();
          setStatus(CallState.ENDED, m.call.message || callWords[CallState.ENDED]);
          loadRecent();
        } else if (!ringingCall || ringingCall.id !== m.call.id) {
          showCall(m.call);
        }
        break;
      case 'error':
        showError(m.message);
        if (!current) { el.call.disabled = false; setStatus(PageState.IDLE, 'Ready'); }
        break;
    }
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/phone';
    ws = new WebSocket(url);
    ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { showError('The server sent something this page does not understand.'); } };
    ws.onclose = (e) => {
      const hadCall = current !== null;
      if (pc) { pc.close(); pc = null; sender = null; }
      stopRinging(); stopTimer();
      current = null;
      // Capped exponential backoff with jitter, so that the pages of an
      // office do not all come back at the same moment after a restart.
      const delay = Math.round(retry * (0.75 + Math.random() / 2));
      retry = Math.min(retry * 2, 30000);
      const secs = Math.max(1, Math.round(delay / 1000));
      if (e.code === 1001) {
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
  connect();
  loadRecent();
})();
