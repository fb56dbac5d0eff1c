// Browser test of the node a cluster's source status names on the
// wallboard, driven by web/wallnode_e2e_test.go:
//   node wallboard_node.js URL USER PASS
// It prints "STEP name {json}" per milestone; after "first" the Go test
// publishes the source's status from another node (a takeover).
const { launch } = require('./chromium');

const [url, user, pass] = process.argv.slice(2);
const step = (s, v = {}) => console.log(`STEP ${s} ${JSON.stringify(v)}`);
const chip = '[data-testid=source][data-name=pbx] [data-testid=source-node]';

(async () => {
  const { page, close } = await launch();
  try {
    page.setDefaultTimeout(20000);
    await page.goto(url + 'login');
    await page.fill('[data-testid=login-name]', user);
    await page.fill('[data-testid=login-password]', pass);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=connection][data-state=live]');
    await page.waitForSelector(`${chip}[data-node=sb-2]`);
    step('first', { text: await page.textContent(chip), home: await page.locator('[data-testid=source][data-name=home] [data-testid=source-node]').count() });
    await page.waitForSelector(`${chip}[data-node=sb-3]`);
    step('takeover', { text: await page.textContent(chip) });
  } finally {
    await close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
