const { launch } = require('./chromium');
const [url, out] = process.argv.slice(2);
(async () => {
  const { page, close } = await launch();
  try {
    page.on('pageerror', (e) => console.error('PAGEERROR', e.message));
    page.on('console', (m) => console.error('CONSOLE', m.text()));
    await page.goto(url + 'login');
    await page.fill('[data-testid=login-name]', 'anna');
    await page.fill('[data-testid=login-password]', 'pw-anna-123456');
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=wallboard]');
    for (const [w, h] of [[1920, 1080], [390, 844], [3840, 2160]]) {
      await page.setViewportSize({ width: w, height: h });
      for (const p of ['wall', '']) {
        await page.goto(url + p);
        await page.waitForSelector('[data-testid=connection][data-state=live]');
        await page.waitForTimeout(500);
        await page.screenshot({ path: `${out}/${p || 'board'}-${w}.png`, fullPage: false });
      }
    }
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.goto(url + 'settings/devices');
    await page.screenshot({ path: `${out}/devices.png`, fullPage: false });
    await page.goto(url + 'nope');
    await page.screenshot({ path: `${out}/404.png` });
  } finally { await close(); }
})().catch((e) => { console.error(e); process.exit(1); });
