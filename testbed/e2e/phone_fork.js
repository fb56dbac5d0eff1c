// Browser test of the softphone across nodes, driven by
// cmd/switchboard/sipfork_browser_test.go:
//   node phone_fork.js URL USER PASS ACCEPT_LANGUAGE MIN_RECENT [SCREENSHOT]
// The page is open on one node while the Go test has the same user's page
// open on another. Prints "STEP name [json]" and waits for a line on stdin
// after each: registered (the Go test's phone calls the account), ringing
// (the Go test answers on the other node), ended (how the ringing call
// ended here, and the recent list once the history has the call).
// Exit 0 = every step passed.
const { launch } = require('./chromium');
const { step, signIn } = require('./phonelib');

const [url, user, pass, lang, minRecent, shot] = process.argv.slice(2);

(async () => {
  const { ctx, page, close } = await launch({});
  let failed = false;
  try {
    page.setDefaultTimeout(60000);
    page.on('pageerror', (e) => console.error('PAGEERROR', e.message));
    await ctx.setExtraHTTPHeaders({ 'Accept-Language': lang });
    await signIn(page, url, user, pass);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    await step('registered');
    await page.waitForSelector('[data-testid=incoming]:not([hidden])');
    await step('ringing', { from: await page.textContent('[data-testid=incoming-from]') });
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    const status = (await page.textContent('[data-testid=call-status]')).trim();
    const incomingHidden = await page.isHidden('[data-testid=incoming]');
    // The history saves the call a moment after it ended: load the page
    // again until its recent list has it (and the earlier runs' calls).
    const deadline = Date.now() + 30000;
    let recent = [];
    for (;;) {
      recent = await page.evaluate(() => [...document.querySelectorAll('#recent li')].map((li) => ({ text: li.textContent, missed: li.classList.contains('missed') })));
      if (recent.length >= Number(minRecent) || Date.now() > deadline) break;
      await page.waitForTimeout(500);
      await page.reload();
      await page.waitForSelector('[data-testid=account][data-state=registered]');
    }
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    await step('ended', { status, incomingHidden, recent, lang: await page.getAttribute('html', 'lang') });
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
