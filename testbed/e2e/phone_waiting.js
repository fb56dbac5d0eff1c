// Browser test of call waiting with real phones, driven by
// web/phone_e2e_test.go (TestBrowserCallWaiting):
//   node phone_waiting.js URL USER PASS [SHOTS_DIR]   (FAKE_AUDIO_WAV = the microphone's tone)
// Prints "STEP name [json]" per milestone and waits for a line on stdin
// after each (the Go test has made the phones act). Exit 0 = every step
// passed.
const { launch } = require('./chromium');
const { phone, step, signIn, remoteHz, shooter, card } = require('./phonelib');

const [url, user, pass, shots] = process.argv.slice(2);

(async () => {
  const { page, close } = await launch({ fakeAudioWav: process.env.FAKE_AUDIO_WAV });
  let failed = false;
  try {
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => { console.error('PAGEERROR', e.message); failed = true; });
    page.on('console', (m) => console.error('CONSOLE', m.text()));
    await page.setViewportSize(phone);
    const shot = shooter(page, shots);
    const media = (who) => page.getAttribute(card(who), 'data-media');

    await signIn(page, url, user, pass);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    await step('registered');

    // The first phone calls: the loud panel, answered.
    await page.waitForSelector('[data-testid=incoming]:not([hidden])');
    await page.click('[data-testid=answer]');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await step('first', { hz: await remoteHz(page) });

    // The second phone calls during the call: it waits, discreetly.
    await page.waitForSelector('[data-testid=waiting]:not([hidden])');
    if (!(await page.isHidden('[data-testid=incoming]'))) throw new Error('the loud ring panel shows during a call');
    await shot('real-call-waiting');
    await step('waiting', { from: await page.textContent('[data-testid=waiting-from]') });

    await page.click('[data-testid=waiting-answer]');
    await page.waitForSelector(card('1003', '[data-media=active][data-live=true]'));
    await page.waitForSelector(card('1002', ':not([data-media=active])'));
    const hzSecond = await remoteHz(page);
    await shot('real-two-calls');
    await step('second', { hz: hzSecond, media: await media('1002') });

    // The live (second) call hangs up with the main button.
    await page.click('[data-testid=hangup]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=call-card]').length === 1);
    await step('second-ended');

    // Back to the first.
    await page.click(card('1002') + ' [data-testid=call-resume]');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await step('back', { hz: await remoteHz(page) });

    await page.click('[data-testid=hangup]');
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    await step('ended');
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
