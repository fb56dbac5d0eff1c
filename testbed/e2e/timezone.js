// Browser test of the one display time zone, driven by
// cmd/switchboard/browser_timezone_test.go:
//   TZ=Asia/Tokyo node timezone.js URL USER PASS NUMBER
// The browser runs in a zone other than the server's display zone; the
// wallboard (times formatted by static/time.js in the browser) and the
// history (formatted by the server) must show the same time for the same
// call. It prints "STEP name" at each milestone (the Go test plays the
// call after "wallboard") and, at the end, one line
// "TIMES {json}" with what each page showed.
const { launch } = require('./chromium');

const [url, user, pass, number] = process.argv.slice(2);
const step = (s) => console.log(`STEP ${s}`);

(async () => {
  const { page, close } = await launch();
  try {
    await page.setViewportSize({ width: 1280, height: 800 });
    page.setDefaultTimeout(20000);
    await page.goto(url + 'login');
    await page.fill('[data-testid=login-name]', user);
    await page.fill('[data-testid=login-password]', pass);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=source][data-state=connected]');
    const browserZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    const pageZone = await page.evaluate(() => window.SwitchboardTime && window.SwitchboardTime.zone);
    step('wallboard');

    // The call ends while the wallboard watches: its row in "Today" is
    // made by the script.
    const row = `[data-testid=recent-call]:has-text("${number}")`;
    await page.waitForSelector(row);
    const wallboard = (await page.textContent(`${row} td:first-child`)).trim();
    step('ended');

    // And as the server renders it, then as the script renders it again,
    // once the history has saved the call (after its event went out).
    await page.waitForFunction(async (n) => {
      const r = await fetch('/api/history?number=' + encodeURIComponent(n), { headers: { Accept: 'application/json' } });
      return r.ok && (await r.json()).total > 0;
    }, number, { polling: 100 });
    await page.reload();
    await page.waitForSelector(row);
    const wallboardReloaded = (await page.textContent(`${row} td:first-child`)).trim();

    await page.goto(url + 'history?number=' + encodeURIComponent(number));
    const hrow = `[data-testid=history-row]:has-text("${number}")`;
    await page.waitForSelector(hrow);
    const history = (await page.textContent(`${hrow} [data-testid=history-started]`)).trim();
    step('history');
    console.log('TIMES ' + JSON.stringify({ browserZone, pageZone, wallboard, wallboardReloaded, history }));
  } finally {
    await close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
