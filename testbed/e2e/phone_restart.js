// Browser test of the softphone across a server restart, driven by
// cmd/switchboard/browser_restart_test.go:
//   node phone_restart.js URL USER PASS
// Prints "STEP name [json]": registered (the Go test then stops the server
// with SIGTERM and starts it again), going-away (the page said why it lost
// the server), registered-again (the restarted server still knew the
// session, kept in its database: the page came back by itself, without
// asking to sign in). Exit 0 = every step passed.
const { launch } = require('./chromium');

const [url, user, pass] = process.argv.slice(2);
const step = (s, v) => console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));

async function signIn(page) {
  await page.goto(url + 'login');
  await page.fill('[data-testid=login-name]', user);
  await page.fill('[data-testid=login-password]', pass);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=nav]');
  await page.goto(url + 'softphone');
}

(async () => {
  const { page, close } = await launch({});
  let failed = false;
  try {
    page.setDefaultTimeout(60000);
    page.on('pageerror', (e) => console.error('PAGEERROR', e.message));
    await signIn(page);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    step('registered');

    // The server goes away: the page says so in plain words.
    await page.waitForFunction(() => /restarting or shutting down/.test(document.querySelector('[data-testid=call-status]').textContent));
    step('going-away', { text: await page.textContent('[data-testid=call-status]') });

    // It comes back with the session: the page registers again by itself.
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    if (/\/login/.test(page.url())) throw new Error(`asked to sign in again: ${page.url()}`);
    step('registered-again');
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
