// Browser test of the softphone's call control with real phones, driven by
// cmd/switchboard/callcontrol_e2e_test.go (TestBrowserCallControlPhones):
//   node phone_callctl.js URL USER PASS [SHOTS_DIR]   (FAKE_AUDIO_WAV = the microphone's tone)
// The far ends: 1004 a sipp phone whose media are the Go test's socket
// (700 Hz), 1002 and 1003 baresip phones (1000 Hz and 1600 Hz).
// Prints "STEP name [json]" per milestone and waits for a line on stdin
// after each (the Go test has checked the far ends or made them act).
// Times ("at") are the page's clock, Date.now(). Exit 0 = every step
// passed.
const { launch } = require('./chromium');
const { phone, step, signIn, waitTone, shooter, card } = require('./phonelib');

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
    const cards = (n) => page.waitForFunction((n) => document.querySelectorAll('[data-testid=call-card]').length === n, n);
    const mediaText = (who) => page.textContent(card(who) + ' [data-testid=call-media]');
    const dial = async (number) => {
      await page.fill('[data-testid=dial-input]', number);
      await page.click('[data-testid=call]');
      await page.waitForSelector(card(number, '[data-media=active]'));
    };
    const ended = async () => {
      await cards(0);
      await page.waitForSelector('[data-testid=call-status][data-state=ended]');
    };
    const keys = async (digits) => {
      for (const k of digits) await page.click(`[data-testid="key-${k}"]`);
    };
    const transfer = async (to, how) => {
      await page.click('[data-testid=transfer]');
      await page.fill('[data-testid=transfer-input]', to);
      await page.click(`[data-testid=transfer-${how}]`);
    };

    // The page's RTCPeerConnection, for its statistics when a step fails.
    await page.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.__pc = pc; return pc; };
      window.RTCPeerConnection.prototype = Native.prototype;
    });
    await signIn(page, url, user, pass);
    await page.waitForSelector('[data-testid=account][data-state=registered]');
    await step('registered');

    // 1. We hold and resume (the sipp phone, whose audio the test hears
    // at its socket); then keys as SIP INFO, since it has no
    // telephone-event; it hangs up.
    await dial('1004');
    await step('hold-connected', { hz: (await waitTone(page, 700)).hz });
    await page.click('[data-testid=hold]');
    await page.waitForSelector(card('1004', '[data-media=local-hold]'));
    await page.waitForSelector('[data-testid=hold][aria-pressed=true]');
    await shot('real-local-hold');
    await step('hold-held', { media: await mediaText('1004') });
    await page.click('[data-testid=hold]');
    await page.waitForSelector(card('1004', '[data-media=active]'));
    const resumed = Date.now();
    await step('hold-resumed', { at: resumed, hz: (await waitTone(page, 700)).hz });
    await keys('12#');
    await step('info-sent');
    // The sipp phone hangs up once it has all three.
    await ended();
    await step('hold-ended');

    // 2., 6. and 3. with the phone 1002: keys as RFC 4733 events, a blind
    // transfer to a number nobody has, the phone holds and resumes, then
    // a blind transfer to 1003.
    await dial('1002');
    await step('phone-connected', { hz: (await waitTone(page, 1000)).hz });
    await keys('12#9');
    await step('dtmf-sent');

    await transfer('1999', 'blind');
    await page.waitForSelector(card('1002') + ' [data-testid=call-transfer][data-state=failed]');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    const failedText = await page.textContent(card('1002') + ' [data-testid=call-transfer]');
    const errorText = await page.textContent('[data-testid=phone-error]');
    await shot('real-transfer-failed');
    await step('blind-failed', { text: failedText, error: errorText, hz: (await waitTone(page, 1000)).hz });

    await step('far-hold');
    await page.waitForSelector(card('1002', '[data-media=remote-hold]'));
    const silent = await waitTone(page, 0, { heard: false, ms: 1000 }); // baresip sends nothing while it holds
    await shot('real-remote-hold');
    await step('far-held', { media: await mediaText('1002'), at: silent.at });
    await page.waitForSelector(card('1002', '[data-media=active]'));
    const back = await waitTone(page, 1000, { ms: 300 });
    await step('far-resumed', { at: back.at, hz: back.hz });

    await transfer('1003', 'blind');
    await step('blind-clicked', { at: Date.now() });
    await ended();
    await step('blind-done', { status: await page.textContent('[data-testid=call-status]') });

    // 4. Attended: 1002, then 1003 as the consultation, then Complete.
    await dial('1002');
    await waitTone(page, 1000);
    await step('att-first');
    await transfer('1003', 'consult');
    await page.waitForSelector('[data-testid=consult-panel]:not([hidden])');
    await page.waitForSelector(card('1003', '[data-media=active]'));
    await page.waitForSelector(card('1002', '[data-media=local-hold]'));
    await page.waitForSelector('[data-testid=transfer-complete]:not([disabled])');
    await step('att-consult', { hz: (await waitTone(page, 1600)).hz });
    await page.click('[data-testid=transfer-complete]');
    await step('att-completed', { at: Date.now() });
    await ended();
    await page.waitForSelector('[data-testid=consult-panel][hidden]', { state: 'attached' });
    await step('att-done');

    // 5. The phone 1002 transfers us to 1003.
    await dial('1002');
    await waitTone(page, 1000);
    await step('xfer-connected');
    await page.waitForSelector(card('1003', '[data-media=active]'));
    await cards(1);
    const heard = await waitTone(page, 1600, { ms: 300 });
    await shot('real-transferred');
    await step('xfer-heard', { at: heard.at, hz: heard.hz, who: await page.textContent(card('1003') + ' [data-testid=call-who]') });
    await page.click('[data-testid=hangup]');
    await ended();
    await step('xfer-ended');

    // 7. Call waiting: 1002 calls, then 1003; answer, swap back, hang
    // up each.
    await step('cw-ready');
    await page.waitForSelector('[data-testid=incoming]:not([hidden])');
    await page.click('[data-testid=answer]');
    await page.waitForSelector(card('1002', '[data-media=active]'));
    await step('cw-first', { hz: (await waitTone(page, 1000)).hz });
    await page.waitForSelector('[data-testid=waiting]:not([hidden])');
    if (!(await page.isHidden('[data-testid=incoming]'))) throw new Error('the loud ring panel shows during a call');
    await page.click('[data-testid=waiting-answer]');
    await page.waitForSelector(card('1003', '[data-media=active][data-live=true]'));
    await page.waitForSelector(card('1002', '[data-media=local-hold]'));
    await shot('real-waiting-answered');
    await step('cw-second', { hz: (await waitTone(page, 1600)).hz });
    await page.click(card('1002') + ' [data-testid=call-resume]');
    await page.waitForSelector(card('1002', '[data-media=active][data-live=true]'));
    await page.waitForSelector(card('1003', '[data-media=local-hold]'));
    await step('cw-swapped', { hz: (await waitTone(page, 1000)).hz });
    // The held call hangs up from its card, the live one with the main
    // button.
    await page.click(card('1003') + ' [data-testid=call-hangup]');
    await cards(1);
    await page.waitForSelector(card('1002', '[data-media=active][data-live=true]'));
    await step('cw-held-ended', { hz: (await waitTone(page, 1000)).hz });
    await page.click('[data-testid=hangup]');
    await ended();
    await step('cw-live-ended');
  } catch (e) {
    console.error(e);
    failed = true;
    // What the page's media connection received, by stream.
    try {
      console.error('STATS', await page.evaluate(async () => {
        const out = [];
        (await window.__pc.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' || r.type === 'codec' || r.type === 'transport') out.push(r);
        });
        return JSON.stringify(out);
      }));
      console.error('SDP', await page.evaluate(() => window.__pc.remoteDescription && window.__pc.remoteDescription.sdp));
    } catch (e2) {
      console.error('no statistics:', e2.message);
    }
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();
