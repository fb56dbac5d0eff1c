// Browser test of Switchboard embedded in an intranet portal, driven by
// web/embed_e2e_test.go (TestBrowserEmbed):
//   node embed.js PORTAL_URL OTHER_URL SWITCHBOARD_URL USER PASS [SHOTS_DIR]
//   (FAKE_AUDIO_WAV = the microphone's tone, SPKI = the base64 SHA-256
//   of the test certificate's key, which Chromium is told to trust)
// Prints "STEP name [json]" per milestone and waits for a line on stdin
// after each (the Go test has made the far phone act). Exit 0 = every
// step passed.
const path = require('path');
const { launch } = require('./chromium');
const { step, remoteHz } = require('./phonelib');

const [portalURL, otherURL, sbURL, user, pass, shots] = process.argv.slice(2);

(async () => {
  const { ctx, page, close } = await launch({
    fakeAudioWav: process.env.FAKE_AUDIO_WAV,
    extraArgs: [
      '--ignore-certificate-errors-spki-list=' + process.env.SPKI,
      // The portal and the other site live on 127.0.0.2 and 127.0.0.3;
      // still nothing else resolves (the last switch counts).
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE 127.0.0.2 , EXCLUDE 127.0.0.3',
    ],
  });
  let failed = false;
  const shot = async (p, name) => { if (shots) await p.screenshot({ path: path.join(shots, name + '.png') }); };
  try {
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => { console.error('PAGEERROR', e.message); failed = true; });
    page.on('console', (m) => console.error('CONSOLE', m.text()));
    await page.setViewportSize({ width: 1280, height: 900 });
    const setCookie = [];
    ctx.on('response', async (r) => {
      if (!r.url().endsWith('/login/oidc/claim')) return;
      const h = await r.headersArray();
      h.filter((x) => x.name.toLowerCase() === 'set-cookie').forEach((x) => setCookie.push(x.value));
    });
    const frameOf = (sel) => page.frameLocator(sel);
    const frame = (p) => page.frames().find((f) => f.url().startsWith(sbURL + p));
    const waitFrame = async (p) => {
      for (let i = 0; i < 300; i++) {
        const f = frame(p);
        if (f) return f;
        await page.waitForTimeout(100);
      }
      throw new Error('no frame at ' + p + ': ' + page.frames().map((f) => f.url()).join(' '));
    };
    const events = () => page.evaluate(() => window.events);
    const waitEvent = async (type, n = 1, pred = () => true) => {
      await page.waitForFunction(([t, n, p]) => window.events.filter((e) => e.type === t && (new Function('e', 'return ' + p))(e)).length >= n,
        [type, n, pred.toString().replace(/^\(?e\)?\s*=>\s*/, '')], { timeout: 30000 });
      return (await events()).filter((e) => e.type === type).slice(-1)[0];
    };

    await page.goto(portalURL);
    // The framed phone lands on the sign-in page, inside the frame.
    await page.waitForFunction((u) => [...document.querySelectorAll('switchboard-phone iframe')].length === 1, sbURL);
    await frameOf('switchboard-phone iframe').locator('[data-testid=login-sso]').waitFor();
    await shot(page, 'embed-signin');
    const [popup] = await Promise.all([
      ctx.waitForEvent('page'),
      frameOf('switchboard-phone iframe').locator('[data-testid=login-sso]').click(),
    ]);
    await popup.waitForEvent('close', { timeout: 30000 });
    await page.waitForFunction(() => window.events.some((e) => e.type === 'ready' && e.el === 'phone' && e.d.view === 'phone'));
    const normalised = await page.evaluate(() => ['tel:+49 (30) 1234-56', 'tel:10-02;phone-context=example.com',
      'sip:1002@pbx.example.com', 'sip:alice@example.com', 'sips:+4930123@x;user=phone', 'callto:%2B49%2030%20123'].map(window.SwitchboardEmbed.normalise));
    await step('signed-in', { setCookie, cookies: await ctx.cookies(sbURL), normalised });

    await waitEvent('registration', 1, (e) => e.d.account === 'office' && e.d.state === 'registered');
    await step('registered');
    if (shots) {
      await page.evaluate(() => { const f = document.querySelector('switchboard-phone iframe'); f.style.width = '320px'; });
      await page.waitForTimeout(300);
      await (await page.$('switchboard-phone')).screenshot({ path: path.join(shots, 'embed-phone-320.png') });
      await page.evaluate(() => { const f = document.querySelector('switchboard-phone iframe'); f.style.width = '360px'; });
    }

    // The wallboard tile was on the sign-in page too: reload it.
    await page.evaluate(() => document.getElementById('wall').setAttribute('theme', 'light'));
    const wallFrame = await waitFrame('/embed/wallboard');
    const wall = () => wallFrame;
    await wall().waitForSelector('[data-testid=connection][data-state=live]');
    await step('wall-ready');

    // Click-to-dial: the portal's tel: link dials on the docked phone.
    await page.click('#tel');
    const ans = await waitEvent('call.answered', 1);
    const phoneFrame = frame('/embed/phone');
    const hz = await remoteHz(phoneFrame);
    // Polling, not animation frames: Chromium throttles those in a
    // cross-origin frame out of view.
    await wall().waitForFunction(() => document.querySelector('[data-testid=active-count]').textContent.trim() === '1', null, { polling: 100 });
    const active = await wall().textContent('[data-testid=active-count]');
    await shot(page, 'embed-call');
    await step('answered-out', { hz, event: ans.d, active: active.trim() });

    await page.evaluate(() => document.getElementById('phone').hold());
    await waitEvent('call.held', 1);
    await page.evaluate(() => document.getElementById('phone').resume());
    await waitEvent('call.answered', 2);
    await step('held');
    await page.evaluate(() => document.getElementById('phone').hangup());
    await waitEvent('call.ended', 1);
    await step('ended-out');

    const ring = await waitEvent('call.ringing', 1, (e) => e.d.direction === 'inbound');
    await step('ringing', { event: ring.d });
    await page.evaluate(() => document.getElementById('phone').answer());
    await waitEvent('call.answered', 3);
    await step('answered-in', { hz: await remoteHz(phoneFrame) });
    await waitEvent('call.ended', 2);
    await step('ended-in');

    // A portal that frames the phone without allow="microphone": the
    // phone says what its administrator must change.
    await page.evaluate((u) => {
      const f = document.createElement('iframe');
      f.id = 'nomic';
      f.src = u + '/embed/phone';
      f.style.width = '360px';
      f.style.height = '400px';
      document.body.appendChild(f);
    }, sbURL);
    let nomic = null;
    for (let i = 0; i < 300 && !nomic; i++) {
      nomic = page.frames().find((f) => f.url().startsWith(sbURL + '/embed/phone') && f !== phoneFrame);
      if (!nomic) await page.waitForTimeout(100);
    }
    try {
      await nomic.waitForFunction(() => document.querySelector('[data-testid=phone-error]').textContent.includes('allow'), null, { polling: 100 });
    } catch (e) {
      throw new Error('the phone without a microphone says: ' + await nomic.textContent('[data-testid=phone-error]') + ' at ' + nomic.url() + ' / ' +
        await nomic.evaluate(() => document.body.innerText.slice(0, 300)));
    }
    const noMicText = await nomic.textContent('[data-testid=phone-error]');
    await shot(page, 'embed-no-microphone');
    await page.evaluate(() => document.getElementById('nomic').remove());
    await step('no-microphone', { text: noMicText });

    // The other site's frame kept saying hello and asking to dial.
    const otherF = page.frames().find((f) => f.url().startsWith(otherURL));
    const got = otherF ? await otherF.evaluate(() => window.got) : ['no other frame'];
    const calls = new Set((await events()).filter((e) => e.type === 'call.answered' && e.el === 'phone').map((e) => e.d.call)).size;
    await step('ignored', { got, calls });

    // A page of the other site cannot frame the wallboard.
    const evil = await ctx.newPage();
    const consoleLines = [];
    evil.on('console', (m) => consoleLines.push(m.text()));
    await evil.goto(otherURL);
    await evil.waitForTimeout(1500);
    const child = evil.frames().find((f) => f !== evil.mainFrame());
    let url = child ? child.url() : '';
    try {
      // A refused frame holds Chromium's error page, not the board.
      if (child && (await child.$('[data-testid=wallboard]'))) url = 'the board is shown: ' + url;
    } catch (e) { /* an error page cannot be inspected: refused */ }
    await step('refused', { url, console: consoleLines });
    await evil.close();

    // A password sign-in inside the frame: signed out (no cookies), the
    // portal again, the framed sign-in form.
    await ctx.clearCookies();
    await page.evaluate(() => { window.events = []; });
    await page.goto(portalURL);
    const form = frameOf('switchboard-phone iframe');
    await form.locator('[data-testid=login-name]').fill(user);
    await form.locator('[data-testid=login-password]').fill(pass);
    await form.locator('[data-testid=login-submit]').click();
    try {
      await page.waitForFunction(() => window.events.some((e) => e.type === 'ready' && e.el === 'phone' && e.d.view === 'phone'));
    } catch (e) {
      const f = page.frames().filter((x) => x.url().startsWith(sbURL));
      throw new Error('after the password sign-in: ' + JSON.stringify(await events()) + ' frames ' +
        (await Promise.all(f.map(async (x) => x.url() + ': ' + (await x.evaluate(() => document.querySelector('main').innerHTML)).slice(0, 1500)))).join(' | '));
    }
    const ready = (await events()).find((e) => e.type === 'ready' && e.d.view === 'phone');
    await step('password', { cookies: await ctx.cookies(sbURL), event: ready.d });
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
