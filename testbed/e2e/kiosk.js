// Browser test of the wall screen, driven by cmd/switchboard/kiosk_browser_test.go:
//   node kiosk.js URL USER PASS SHOTDIR
// Two browsers: an admin, who names a wall screen and makes its link on
// the devices page, and the wall screen (a TV), which opens the link once
// and then stays on the kiosk view. Prints "STEP name [json]" at each
// milestone; the Go test answers by what it does to the server, the
// Fritz!Box stand-in or the calls it plays, and the script waits for the
// page to show it. Exit 0 = every step passed.
const { launch } = require('./chromium');

const [url, user, pass, shots] = process.argv.slice(2);
const step = (s, v) => console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));

// figures reads what the board shows of the day.
async function figures(page) {
  // What a late layout change refits shows after the next paint.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate(() => {
    const v = (id) => document.querySelector(`[data-testid=${id}]`).dataset.value;
    const total = {};
    for (const id of ['fig-calls', 'fig-answered', 'fig-missed', 'fig-rate', 'fig-avg-wait', 'fig-avg-talk', 'fig-longest-wait']) total[id] = v(id);
    const sources = [...document.querySelectorAll('[data-testid=source-figures]')].map((e) => ({ ...e.dataset }));
    const bars = [...document.querySelectorAll('#hour-chart g.bar')].reduce((n, g) => n + Number(g.dataset.calls), 0);
    const rows = [...document.querySelectorAll('[data-testid=recent-call]')].filter((r) => !r.hidden).map((r) => ({
      id: r.dataset.id, started: r.dataset.started, result: r.querySelector('[data-testid=recent-result]').textContent.trim(),
      direction: r.querySelector('[data-testid=recent-direction]').textContent.trim(),
    }));
    // Every call listed, also those a wall screen leaves out for room.
    const shown = [...document.querySelectorAll('[data-testid=recent-call]')].length;
    return { total, sources, bars, rows, shown };
  });
}

// layoutProblems lists what does not fit the screen: an element reaching
// past its left or right edge (or, on a wall screen, its bottom), one cut
// off by a box that clips it, and a number that wraps or is cut.
function layoutProblems(page, wall) {
  return page.evaluate((wall) => {
    const W = document.documentElement.clientWidth, H = document.documentElement.clientHeight;
    const out = [];
    const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.dataset && e.dataset.testid ? `[${e.dataset.testid}]` : '') +
      (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '');
    const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('.sr');
    if (document.documentElement.scrollWidth > W) out.push(`the page is ${document.documentElement.scrollWidth}px wide on a ${W}px screen`);
    if (wall && document.documentElement.scrollHeight > H) out.push(`the page is ${document.documentElement.scrollHeight}px high on a ${H}px screen`);
    for (const e of document.body.querySelectorAll('*')) {
      if (!shown(e)) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > W + 1 || r.left < -1) out.push(`${name(e)} spans x ${Math.round(r.left)}..${Math.round(r.right)} of ${W}`);
      if (wall && r.bottom > H + 1) out.push(`${name(e)} ends at y ${Math.round(r.bottom)} below ${H}`);
      for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
        const b = a.getBoundingClientRect();
        // A box of a pixel that clips is there for screen readers only.
        if (b.width <= 1 || b.height <= 1) break;
        if (r.bottom > b.bottom + 1 || r.right > b.right + 1 || r.left < b.left - 1) out.push(`${name(e)} is cut off by ${name(a)}`);
        break;
      }
    }
    for (const e of document.querySelectorAll('[data-num]')) {
      if (!shown(e)) continue;
      const range = document.createRange();
      range.selectNodeContents(e);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (lines.size > 1) out.push(`${name(e)} "${e.textContent}" wraps onto ${lines.size} lines`);
      if (getComputedStyle(e).display !== 'inline' && e.scrollWidth > e.clientWidth + 1) out.push(`${name(e)} "${e.textContent}" is cut (${e.scrollWidth} > ${e.clientWidth})`);
    }
    return [...new Set(out)];
  }, wall);
}

(async () => {
  const admin = await launch();
  const tv = await launch();
  let failed = false;
  try {
    for (const b of [admin, tv]) {
      b.page.setDefaultTimeout(60000);
      b.page.on('pageerror', (e) => { console.error('PAGEERROR', e.message); failed = true; });
    }
    const a = admin.page, w = tv.page;
    await a.setViewportSize({ width: 1920, height: 1080 });
    await a.goto(url + 'login');
    await a.fill('[data-testid=login-name]', user);
    await a.fill('[data-testid=login-password]', pass);
    await a.click('[data-testid=login-submit]');
    await a.waitForSelector('[data-testid=nav]');
    await a.goto(url + 'settings/devices');
    await a.fill('[data-testid=wall-link-name]', 'Hall TV');
    await a.click('[data-testid=wall-link-create]');
    const link = await a.inputValue('[data-testid=wall-link-url]');

    // The wall screen opens its link once and lands on the kiosk view.
    await w.setViewportSize({ width: 1920, height: 1080 });
    await w.goto(link);
    await w.waitForURL(/\/wall$/);
    await w.waitForSelector('[data-testid=connection][data-state=live]');
    await w.waitForSelector('[data-testid=source][data-state=connected]');
    if (await w.locator('[data-testid=nav], [data-testid=logout], [data-testid=user]').count() !== 0) throw new Error('the kiosk view shows the menu, the user or sign-out');
    step('kiosk', { clock: await w.textContent('[data-testid=clock]') });

    // The Go test plays three calls: the figures follow as they end.
    await w.waitForSelector('[data-testid=fig-calls][data-value="3"]');
    await w.waitForFunction(() => document.querySelectorAll('[data-testid=recent-call]').length === 3);
    step('figures', await figures(w));

    // A fourth call rings while the layout is measured at every size, in
    // English and in German (longer words): the wall screen by its
    // browser's Accept-Language, the admin's board by the language
    // switch, which wins over the browser's.
    await w.waitForSelector('[data-testid=call][data-state=ringing]');
    const problems = {}, langs = {};
    const words = (page) => page.evaluate(() => ({
      lang: document.documentElement.lang,
      today: document.querySelector('#figures-h').firstChild.textContent.trim(),
      results: [...document.querySelectorAll('[data-testid=recent-result]')].map((e) => e.textContent.trim()),
      ringing: (document.querySelector('[data-testid=call][data-state=ringing] [data-testid=call-state]') || {}).textContent,
    }));
    for (const [lang, accept, sizes] of [['en', 'en-US,en;q=0.9', [[1920, 1080], [3840, 2160], [390, 844]]], ['de', 'de-DE,de;q=0.9', [[1920, 1080], [390, 844]]]]) {
      await tv.ctx.setExtraHTTPHeaders({ 'Accept-Language': accept });
      await w.setViewportSize({ width: 1920, height: 1080 });
      await w.reload();
      await w.waitForSelector('[data-testid=connection][data-state=live]');
      await w.waitForSelector('[data-testid=call][data-state=ringing]');
      langs[`kiosk ${lang}`] = await words(w);
      for (const [width, height] of sizes) {
        await w.setViewportSize({ width, height });
        await w.waitForFunction((wd) => document.documentElement.clientWidth === wd, width);
        const size = `${width}x${height}${lang === 'en' ? '' : ' ' + lang}`;
        await w.screenshot({ path: `${shots}/kiosk-${size.replace(' ', '-')}.png` });
        problems[`kiosk ${size}`] = await layoutProblems(w, width >= 1280);
      }
    }
    await tv.ctx.setExtraHTTPHeaders({ 'Accept-Language': 'en-US,en;q=0.9' });
    await w.setViewportSize({ width: 1920, height: 1080 });
    await w.reload();
    await w.waitForSelector('[data-testid=connection][data-state=live]');
    await admin.ctx.setExtraHTTPHeaders({ 'Accept-Language': 'en-US,en;q=0.9' });
    await a.goto(url);
    await a.waitForSelector('[data-testid=call][data-state=ringing]');
    for (const lang of ['en', 'de']) {
      if (lang !== 'en') {
        await a.setViewportSize({ width: 1920, height: 1080 });
        await a.click(`[data-testid=lang-${lang}]`);
        await a.waitForSelector(`html[lang=${lang}]`);
        await a.waitForSelector('[data-testid=call][data-state=ringing]');
        // The choice sticks: a reload still asks for English.
        await a.reload();
        await a.waitForSelector('[data-testid=connection][data-state=live]');
      }
      langs[`board ${lang}`] = await words(a);
      for (const [width, height] of [[1920, 1080], [390, 844]]) {
        await a.setViewportSize({ width, height });
        await a.waitForFunction((wd) => document.documentElement.clientWidth === wd, width);
        const size = `${width}x${height}${lang === 'en' ? '' : ' ' + lang}`;
        await a.screenshot({ path: `${shots}/board-${size.replace(' ', '-')}.png`, fullPage: true });
        problems[`board ${size}`] = await layoutProblems(a, false);
      }
    }
    await a.setViewportSize({ width: 1920, height: 1080 });
    await a.click('[data-testid=lang-en]');
    await a.waitForSelector('html[lang=en]');
    langs['board back'] = await words(a);
    await w.setViewportSize({ width: 1920, height: 1080 });
    step('languages', langs);
    step('layout', problems);

    // The ringing call is given up: four calls, two missed.
    await w.waitForSelector('[data-testid=fig-calls][data-value="4"]');
    await w.waitForSelector('[data-testid=call]', { state: 'detached' });
    step('figures-4', await figures(w));

    // A busy day: forty more calls, more than a screen lists. The wall
    // screen shows the latest that fit, whole rows, and still nothing
    // reaches past the screen.
    await w.waitForSelector('[data-testid=fig-calls][data-value="44"]');
    // On a loaded machine the burst can outrun the screen's socket, which
    // is reset and catches up, saying so for a while; the rows that fit
    // are compared after the restart, so they are measured without it.
    await w.waitForFunction(() => document.getElementById('errors').children.length === 0, null, { timeout: 30000 });
    const full = {};
    for (const [width, height] of [[1920, 1080], [3840, 2160]]) {
      await w.setViewportSize({ width, height });
      await w.waitForFunction((wd) => document.documentElement.clientWidth === wd, width);
      const size = `${width}x${height}`;
      await w.screenshot({ path: `${shots}/kiosk-busy-${size}.png` });
      full[`kiosk ${size}`] = { problems: await layoutProblems(w, true), ...(await figures(w)), note: await w.textContent('[data-testid=recent-shown]') };
    }
    await w.setViewportSize({ width: 1920, height: 1080 });
    step('layout-busy', full);

    // The server stops: the whole board says so, with since when.
    step('stop-server');
    await w.waitForSelector('[data-testid=stale-banner]:not([hidden]) [data-testid=stale-server]');
    await w.waitForSelector('#wall.stale');
    await w.screenshot({ path: `${shots}/kiosk-server-gone.png` });
    step('stale', { banner: await w.textContent('[data-testid=stale-banner]') });

    // It comes back (the Go test starts it again): the banner goes, the
    // screen is still signed in, also after a reload.
    await w.waitForSelector('[data-testid=connection][data-state=live]');
    await w.waitForSelector('[data-testid=stale-banner][hidden]', { state: 'attached' });
    if (await w.locator('#wall.stale').count() !== 0) throw new Error('the board is still dimmed');
    await w.reload();
    await w.waitForSelector('[data-testid=connection][data-state=live]');
    if (!/\/wall$/.test(w.url())) throw new Error(`after the restart the wall screen is at ${w.url()}`);
    step('back', await figures(w));

    // The Fritz!Box goes away: the board says that source is down.
    step('stop-source');
    await w.waitForSelector('[data-testid=stale-banner]:not([hidden]) [data-testid=stale-source][data-source=home]');
    await w.screenshot({ path: `${shots}/kiosk-source-down.png` });
    step('source-down', { banner: await w.textContent('[data-testid=stale-banner]') });
    await w.waitForSelector('[data-testid=source][data-name=home][data-state=connected]');
    await w.waitForSelector('[data-testid=stale-banner][hidden]', { state: 'attached' });
    step('source-up');

    // The admin (still signed in across the restart) revokes the screen:
    // its socket closes at once and it says it is no longer signed in.
    await a.goto(url + 'settings/devices');
    await a.waitForSelector('[data-testid=device][data-name="Hall TV"] [data-testid=device-sockets]:has-text("yes")');
    await a.click('[data-testid=device][data-name="Hall TV"] [data-testid=device-revoke]');
    await a.waitForSelector('[data-testid=device-revoked]');
    await w.waitForSelector('[data-testid=signed-out]:not([hidden])');
    await w.screenshot({ path: `${shots}/kiosk-revoked.png` });
    step('revoked', { text: await w.textContent('[data-testid=signed-out]'), url: w.url() });
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await admin.close();
    await tv.close();
  }
  process.exit(failed ? 1 : 0);
})();
