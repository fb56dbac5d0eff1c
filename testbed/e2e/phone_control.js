// Browser test of the softphone's call control, driven by
// gateway/page_e2e_test.go against a scripted SIP side:
//   node phone_control.js URL USER PASS [SHOTS_DIR]   (FAKE_AUDIO_WAV = the microphone's tone)
// Prints "STEP name [json]" per milestone; the Go test plays the far ends
// on some of them. Exit 0 = every step passed. With SHOTS_DIR, every state
// is photographed at phone and desk size.
const { launch } = require('./chromium');
const { phone, step, signIn, remoteHz, shooter, card, press } = require('./phonelib');

const [url, user, pass, shots] = process.argv.slice(2);

(async () => {
  const { page, close } = await launch({ fakeAudioWav: process.env.FAKE_AUDIO_WAV });
  let failed = false;
  try {
    page.setDefaultTimeout(20000);
    page.on('pageerror', (e) => { console.error('PAGEERROR', e.message); failed = true; });
    page.on('console', (m) => console.error('CONSOLE', m.text()));
    await page.setViewportSize(phone);
    const shot = shooter(page, shots);
    const status = () => page.textContent('[data-testid=call-status]');

    await signIn(page, url, user, pass);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    await shot('idle');
    await step('registered');

    // An outgoing call: ringing, then answered.
    await page.fill('[data-testid=dial-input]', '1002');
    await page.click('[data-testid=call]');
    await step('dialled');
    await page.waitForSelector(card('1002', '[data-state=ringing]'));
    await shot('ringing-out');
    await step('ringing-out');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    const hzConnected = await remoteHz(page);
    await shot('connected');
    await step('connected', { hz: hzConnected, status: await status() });

    // Call waiting: the second call rings discreetly; A answers it and
    // holds the first.
    await page.waitForSelector('[data-testid=waiting]:not([hidden])');
    if (!(await page.isHidden('[data-testid=incoming]'))) throw new Error('the loud ring panel shows during a call');
    await shot('call-waiting');
    await step('waiting', { from: await page.textContent('[data-testid=waiting-from]') });
    await press(page, 'a');
    await page.waitForSelector(card('0301234', '[data-media=active][data-live=true]'));
    await page.waitForSelector(card('1002', '[data-media=local-hold]'));
    await page.waitForSelector('[data-testid=waiting][hidden]', { state: 'attached' });
    const hzWaiting = await remoteHz(page);
    await page.waitForFunction(() => /held 0:0[1-9]/.test(document.body.textContent));
    await shot('two-calls');
    await step('answered-waiting', { hz: hzWaiting });

    // Swap back to the first.
    await page.click(card('1002') + ' [data-testid=call-resume]');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await page.waitForSelector(card('0301234', '[data-media=local-hold]'));
    await step('swapped', { hz: await remoteHz(page) });

    // Hold and resume with the H key.
    await press(page, 'h');
    await page.waitForSelector(card('1002', '[data-media=local-hold]'));
    await page.waitForSelector('[data-testid=hold][aria-pressed=true]');
    await shot('both-held');
    await step('held', { status: await status() });
    await press(page, 'h');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await step('resumed');

    // Tones from the keypad; digits from the far end are shown.
    for (const k of ['1', '2', '#']) await page.click(`[data-testid="key-${k}"]`);
    await step('dtmf-sent');
    await page.waitForFunction(() => /They pressed: 5/.test(document.body.textContent));
    await shot('dtmf');
    await step('dtmf-shown', { text: await page.textContent(card('1002') + ' [data-testid=call-digits]') });

    // The far end holds and resumes.
    await page.waitForSelector(card('1002', '[data-media=remote-hold]'));
    await shot('remote-hold');
    await step('remote-hold', { status: await status() });
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await step('remote-resumed');

    // The held second call is hung up from its card.
    await page.click(card('0301234') + ' [data-testid=call-hangup]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=call-card]').length === 1);
    await step('second-hangup');

    // A blind transfer that fails: the call is kept and resumed.
    await page.click('[data-testid=transfer]');
    await page.fill('[data-testid=transfer-input]', '1003');
    await shot('transfer-form');
    await page.click('[data-testid=transfer-blind]');
    await step('blind-sent');
    await page.waitForSelector(card('1002') + ' [data-testid=call-transfer]:has-text("Calling 1003")');
    await shot('transfer-trying');
    await step('transfer-trying');
    await page.waitForSelector(card('1002') + ' [data-testid=call-transfer][data-state=failed]');
    await page.waitForSelector('[data-testid=phone-error]:has-text("busy")');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await shot('transfer-failed');
    await step('transfer-failed', { text: await page.textContent(card('1002') + ' [data-testid=call-transfer]') });

    // An attended transfer: talk to the target first, then complete.
    await page.click('[data-testid=transfer]');
    await page.fill('[data-testid=transfer-input]', '1004');
    await page.click('[data-testid=transfer-consult]');
    await step('consult-dialled');
    await page.waitForSelector('[data-testid=consult-panel]:not([hidden])');
    await page.waitForSelector(card('1004', '[data-media=active]'));
    await page.waitForSelector('[data-testid=transfer-complete]:not([disabled])');
    const hzConsult = await remoteHz(page);
    await shot('consultation');
    await step('consulting', { hz: hzConsult, text: await page.textContent('[data-testid=consult-text]') });
    await page.click('[data-testid=transfer-complete]');
    await step('complete-sent');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=call-card]').length === 0);
    await page.waitForSelector('[data-testid=consult-panel][hidden]', { state: 'attached' });
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    await step('transferred');

    // The far end transfers us: the new call takes the old one's place.
    await page.fill('[data-testid=dial-input]', '1005');
    await page.click('[data-testid=call]');
    await step('dialled-5');
    await page.waitForSelector(card('1005', '[data-media=active]'));
    await step('connected-5');
    await page.waitForSelector(card('1006', '[data-media=active]'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=call-card]').length === 1);
    const hzTransferred = await remoteHz(page);
    await shot('transferred-in');
    await step('transferred-in', { hz: hzTransferred, who: await page.textContent(card('1006') + ' [data-testid=call-who]') });

    // Lost audio is said in plain words; E hangs up.
    await page.waitForSelector(card('1006', '[data-media=error]'));
    await shot('media-error');
    await step('media-error', { text: await page.textContent(card('1006') + ' [data-testid=call-media]') });
    await press(page, 'e');
    await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    await step('hung-up');

    // An incoming call on an idle page rings loudly; D declines it.
    await page.waitForSelector('[data-testid=incoming]:not([hidden])');
    await shot('incoming');
    await step('incoming');
    await press(page, 'd');
    await page.waitForSelector('[data-testid=incoming][hidden]', { state: 'attached' });
    await step('declined');
  } catch (e) {
    console.error(e);
    failed = true;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
