// Shared steps of the softphone browser tests: sign-in, the tone the page
// hears, screenshots at phone and desk size, call cards.
const phone = { width: 390, height: 844 };
const desk = { width: 1280, height: 900 };

// step prints a milestone for the Go test, "STEP name [json]", and waits
// for its line on stdin: the test has played the far ends' part.
const waiting = [], lines = [];
let stdinOpen = true;
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  if (waiting.length) waiting.shift()(l); else lines.push(l);
}).on('close', () => { stdinOpen = false; while (waiting.length) waiting.shift()(null); });
function step(s, v) {
  console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));
  if (lines.length) return Promise.resolve(lines.shift());
  if (!stdinOpen) return Promise.resolve(null);
  return new Promise((resolve) => waiting.push(resolve));
}

async function signIn(page, url, name, pass) {
  await page.goto(url + 'login');
  await page.fill('[data-testid=login-name]', name);
  await page.fill('[data-testid=login-password]', pass);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=nav]');
  await page.goto(url + 'softphone');
}

// remoteHz is the peak frequency of the page's received audio: an
// AnalyserNode on the remote stream (which must also play in an <audio>
// element, or the analyser hears silence). The first reading comes after
// one analysis window, so that audio from before a switch of calls has
// left it.
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
    await new Promise((r) => setTimeout(r, 1000 * an.fftSize / ctx.sampleRate));
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

// waitTone waits until the page's received audio has had hz (± tol) as
// its strongest frequency, above -75 dBFS, for ms without a break
// (heard: true), or not (heard: false); hz 0 stands for any sound, so
// that heard: false waits for silence. It returns { at, hz, db }: at is
// the page's clock (Date.now) when that stretch began, to within one
// 43 ms analysis window and a 20 ms poll. It throws after timeout ms.
// Unlike remoteHz it looks at short windows, so that it times when a
// tone comes or goes.
async function waitTone(page, hz, { heard = true, ms = 500, timeout = 15000, tol = 50 } = {}) {
  await page.waitForFunction(() => document.querySelector('[data-testid=remote-audio]').srcObject, null, { timeout: 10000 });
  const r = await page.evaluate(async ({ hz, heard, ms, timeout, tol }) => {
    const a = document.querySelector('[data-testid=remote-audio]');
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    an.fftSize = 2048;
    an.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(a.srcObject).connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    const binHz = ctx.sampleRate / an.fftSize;
    const sleep = (d) => new Promise((res) => setTimeout(res, d));
    const start = Date.now();
    let since = 0, peakHz = 0, peak = -Infinity;
    try {
      await sleep(1000 * an.fftSize / ctx.sampleRate);
      while (Date.now() - start < timeout) {
        an.getFloatFrequencyData(bins);
        let bi = 1;
        for (let j = 2; j < bins.length; j++) if (bins[j] > bins[bi]) bi = j;
        peakHz = Math.round(bi * binHz);
        peak = bins[bi];
        const on = peak > -75 && (hz === 0 || Math.abs(peakHz - hz) <= tol);
        const now = Date.now();
        if (on === heard) {
          if (!since) since = now;
          if (now - since >= ms) return { ok: true, at: since, hz: peakHz, db: Math.round(peak) };
        } else since = 0;
        await sleep(20);
      }
      return { ok: false, hz: peakHz, db: Math.round(peak) };
    } finally {
      await ctx.close();
    }
  }, { hz, heard, ms, timeout, tol });
  if (!r.ok) throw new Error(`${hz ? hz + ' Hz' : 'sound'} ${heard ? 'not heard' : 'still heard'} for ${ms} ms within ${timeout} ms (last peak ${r.hz} Hz at ${r.db} dB)`);
  return r;
}

// shooter takes screenshots NAME-phone.png and NAME-desktop.png in dir
// (none when dir is empty).
function shooter(page, dir) {
  return async (name) => {
    if (!dir) return;
    await page.screenshot({ path: `${dir}/${name}-phone.png`, fullPage: true });
    await page.setViewportSize(desk);
    await page.screenshot({ path: `${dir}/${name}-desktop.png`, fullPage: true });
    await page.setViewportSize(phone);
  };
}

// card is the selector of the call card showing who, with extra
// attribute selectors (e.g. '[data-media=active]').
const card = (who, attrs = '') => `[data-testid=call-card]${attrs}:has([data-testid=call-who]:text-matches("^${who}"))`;

// press types a shortcut key with nothing focused (keys in text fields
// are typing).
async function press(page, key) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press(key);
}

module.exports = { phone, desk, step, signIn, remoteHz, waitTone, shooter, card, press };
