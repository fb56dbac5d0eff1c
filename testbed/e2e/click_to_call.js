// Browser test of the history's click-to-call, driven by
// web/history_e2e_test.go: node click_to_call.js URL USER PASS NUMBER
// Signs in, clicks the number in the history, and prints
// "DIAL <value of the softphone's dial field>" once the softphone page
// has opened.
const { launch } = require('./chromium');

const [url, user, pass, number] = process.argv.slice(2);

(async () => {
  const { page, close } = await launch();
  try {
    page.setDefaultTimeout(20000);
    await page.goto(url + 'login');
    await page.fill('[data-testid=login-name]', user);
    await page.fill('[data-testid=login-password]', pass);
    await page.click('[data-testid=login-submit]');
    await page.waitForURL(url);
    await page.goto(url + 'history');
    await Promise.all([
      page.waitForURL(/\/softphone\?dial=/),
      page.click(`[data-testid=history-row]:has-text("${number}") [data-testid=history-dial] >> nth=0`),
    ]);
    await page.waitForSelector('[data-testid=dial-input]');
    // phone.js fills the field when it starts (it is deferred).
    await page.waitForFunction(() => document.querySelector('[data-testid=dial-input]').value !== '');
    console.log('DIAL ' + await page.inputValue('[data-testid=dial-input]'));
  } finally {
    await close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
