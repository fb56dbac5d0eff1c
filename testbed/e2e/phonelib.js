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

module.exports = { phone, desk, step, signIn, remoteHz, shooter, card, press };
