// Browser test of the softphone, driven by web/phone_e2e_test.go:
//   node phone.js URL USER PASS TARGET BADUSER SCREENSHOT GONEUSER NOBODY
//   (FAKE_AUDIO_WAV = the microphone's tone)
// Prints "STEP name [json]" per milestone; the Go test acts on some of them
// (it makes the far phone call in and hang up) and checks the far phone's
// recording. Exit 0 = every step passed.
const { launch } = require('./chromium');

const [url, user, pass, target, badUser, shot, goneUser, nobody] = process.argv.slice(2);
const step = (s, v) => console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));

// Peak frequency of the page's received audio: an AnalyserNode on the
// remote stream (which must also play in an <audio> element, or the
// analyser hears silence).
async function remoteHz(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid=remote-audio]').srcObject, null, { timeout: 10000 });
  return page.evaluate(async () => {
    const a = document.querySelector('[data-testid=remote-audio]');
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    an.fftSize = 16384;
    ctx.createMediaStreamSource(a.srcObject).connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    let best = 0;
    for (let i = 0; i < 10 && best === 0; i++) {
      await new Promise((r) => setTimeout(r, 300));
      an.getFloatFrequencyData(bins);
      let bi = 0;
      for (let j = 1; j < bins.length; j++) if (bins[j] > bins[bi]) bi = j;
      if (bins[bi] > -80) best = Math.round(bi * ctx.sampleRate / an.fftSize);
    }
    await ctx.close();
    return best;
  });
}

// dialState is what the page says about an account that cannot dial:
// its state, whether Call is off, and why.
async function dialState(page) {
  return {
    text: await page.textContent('[data-testid=account-state]'),
    callDisabled: await page.isDisabled('[data-testid=call]'),
    why: await page.isVisible('[data-testid=dial-why]') ? await page.textContent('[data-testid=dial-why]') : '',
  };
}

async function signIn(page, name) {
  await page.goto(url + 'login');
  await page.fill('[data-testid=login-name]', name);
  await page.fill('[data-testid=login-password]', pass);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=nav]');
  await page.goto(url + 'softphone');
}

(async () => {
  const { ctx, page, close } = await launch({ fakeAudioWav: process.env.FAKE_AUDIO_WAV });
  let failed = false;
  try {
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => console.error('PAGEERROR', e.message));
    page.on('console', (m) => console.error('CONSOLE', m.text()));
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await signIn(page, user);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    step('registered');

    // Outgoing call to the far phone (it auto-answers and sends its tone).
    await page.fill('[data-testid=dial-input]', target);
    const dialT0 = Date.now();
    await page.click('[data-testid=call]');
    await page.waitForSelector('[data-testid=call-status][data-state=connected]');
    step('connected-out', { ms: Date.now() - dialT0 });
    const hzOut = await remoteHz(page);
    step('heard-out', { hz: hzOut });
    await page.waitForFunction(() => document.querySelector('[data-testid=call-timer]').textContent !== '0:00');
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    await page.click('[data-testid=hangup]');
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    step('ended-out');

    // Incoming call: the Go test has the far phone call now.
    await page.waitForSelector('[data-testid=incoming]:not([hidden])');
    step('ringing', { from: await page.textContent('[data-testid=incoming-from]') });
    if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '-ringing.png'), fullPage: true });
    const ansT0 = Date.now();
    await page.click('[data-testid=answer]');
    await page.waitForSelector('[data-testid=call-status][data-state=connected]');
    const hzIn = await remoteHz(page);
    step('connected-in', { hz: hzIn, ms: Date.now() - ansT0 });
    // The Go test hangs up at the far end.
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    step('ended-in', { text: await page.textContent('[data-testid=call-status]') });

    // A wrong password: the page says so.
    const p2 = await ctx.newPage();
    await p2.setViewportSize({ width: 390, height: 844 });
    await p2.context().clearCookies();
    await signIn(p2, badUser);
    await p2.waitForSelector('[data-testid=account][data-state=failed]');
    step('registration-error', await dialState(p2));

    // A registrar that does not answer: plain words, and no dialling
    // until the account is registered.
    await p2.context().clearCookies();
    await signIn(p2, goneUser);
    await p2.waitForSelector('[data-testid=account][data-state=retrying]');
    step('registrar-gone', await dialState(p2));

    // A number nobody has: the attempt fails, and the recent calls say so
    // and why.
    await page.fill('[data-testid=dial-input]', nobody);
    await page.click('[data-testid=call]');
    await page.waitForSelector('[data-testid=recent-attempt]');
    step('attempt-failed', {
      text: await page.textContent('[data-testid=call-status]'),
      recent: await page.textContent('[data-testid=recent-attempt]'),
      lang: await page.getAttribute('html', 'lang'),
    });
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
