// Browser test of the wallboard and the history, driven by
// cmd/switchboard/browser_test.go: node wallboard_history.js URL USER PASS NUMBER
// It prints a line per milestone ("STEP name"); the Go test feeds the
// router the next call-monitor line when it sees one.
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
    await page.waitForSelector('[data-testid=connection]');
    await page.waitForSelector('[data-testid=source][data-state=connected]');
    step('wallboard');

    const card = `[data-testid=call][data-state=ringing]:has-text("${number}")`;
    await page.waitForSelector(card);
    const t1 = await page.textContent(`${card} [data-testid=call-timer]`);
    await page.waitForFunction(([sel, before]) => {
      const el = document.querySelector(sel);
      return el && el.textContent !== before;
    }, [`[data-testid=call][data-state=ringing] [data-testid=call-timer]`, t1]);
    step('ringing');

    await page.waitForSelector(`[data-testid=call][data-state=connected]:has-text("${number}")`);
    step('connected');

    await page.waitForSelector(`[data-testid=call]:has-text("${number}")`, { state: 'detached' });
    await page.waitForSelector(`[data-testid=recent-call]:has-text("${number}")`);
    step('ended');

    await page.goto(url + 'history');
    await page.fill('[data-testid=history-number]', number.slice(0, 6));
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=history-search]')]);
    await page.waitForSelector(`[data-testid=history-row]:has-text("${number}")`);
    step('history');
  } finally {
    await close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
