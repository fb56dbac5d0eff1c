// Browser test of the operator panel and the wallboard's queue view,
// driven by cmd/switchboard/panel_browser_test.go:
//   node panel.js URL USER PASS SHOTDIR
// Signs in as an operator and opens /panel. Prints "STEP name [json]" at
// each milestone; the Go test answers by what it has the Asterisk
// stand-in send (or checks what the stand-in received), and the script
// waits for the page to show it. Exit 0 = every step passed.
const { launch } = require('./chromium');

const [url, user, pass, shots] = process.argv.slice(2);
const step = (s, v) => console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));
const lampSel = (id) => `[data-testid=lamp][data-id="${id}"]`;
const tileSel = (id) => `[data-testid=queue-tile][data-id="${id}"]`;

// lamps reads every lamp: its lamp word, its text and its group.
function lamps(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-testid=lamp]')].map((e) => [e.dataset.id, {
    lamp: e.dataset.lamp, word: e.querySelector('[data-testid=lamp-word]').textContent,
    icon: e.querySelector('.lamp-icon').textContent, group: e.closest('[data-group]').dataset.group,
    message: (e.querySelector('[data-testid=lamp-message]') || {}).textContent || '',
    colour: getComputedStyle(e).borderLeftColor,
  }])));
}

// said waits for the panel's announcement (role=status) to contain text.
async function said(page, text) {
  await page.waitForFunction((t) => document.getElementById('panel-live').textContent.includes(t), text);
  const errors = await page.textContent('[data-testid=errors]');
  if (errors.trim()) throw new Error(`the panel shows an error: ${errors}`);
}

// layoutProblems lists what reaches past the screen's left or right edge.
function layoutProblems(page) {
  return page.evaluate(() => {
    const W = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > W) out.push(`the page is ${document.documentElement.scrollWidth}px wide on a ${W}px screen`);
    for (const e of document.body.querySelectorAll('*')) {
      if (e.getClientRects().length === 0 || e.closest('.sr')) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > W + 1 || r.left < -1) out.push(`${e.tagName.toLowerCase()}.${e.className} spans x ${Math.round(r.left)}..${Math.round(r.right)} of ${W}`);
    }
    for (const e of document.querySelectorAll('[data-num]')) {
      if (e.getClientRects().length > 1) out.push(`number "${e.textContent}" wraps`);
    }
    return out;
  });
}

(async () => {
  const { page, close } = await launch();
  try {
    page.setDefaultTimeout(20000);
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.goto(url + 'login');
    await page.fill('[data-testid=login-name]', user);
    await page.fill('[data-testid=login-password]', pass);
    await page.click('[data-testid=login-submit]');
    await page.waitForURL(url);
    await page.goto(url + 'panel');
    await page.waitForSelector('[data-testid=connection][data-state=live]');
    await page.waitForSelector(lampSel('pbx:205@ext-local'));
    await page.waitForSelector(tileSel('pbx:support'));
    step('panel', await lamps(page));

    // Lamps change: 201 rings, then talks.
    await page.waitForSelector(lampSel('pbx:201@ext-local') + '[data-lamp=ringing]');
    step('ringing', (await lamps(page))['pbx:201@ext-local']);
    await page.waitForSelector(lampSel('pbx:201@ext-local') + '[data-lamp=busy]');
    // A caller joins the queue (on this step) and leaves it.
    const waiting = () => page.getAttribute(tileSel('pbx:support'), 'data-waiting');
    const before = await waiting();
    step('busy', (await lamps(page))['pbx:201@ext-local']);
    await page.waitForSelector(tileSel('pbx:support') + `:not([data-waiting="${before}"])`);
    const up = await waiting();
    const upText = await page.textContent(tileSel('pbx:support') + ' [data-testid=q-waiting] .kpi-v');
    step('waiting-up', { before, up, text: upText, callers: await page.locator(tileSel('pbx:support') + ' [data-testid=queue-caller]').count() });
    await page.waitForSelector(tileSel('pbx:support') + `[data-waiting="${before}"]`);
    step('waiting-down', { now: await waiting() });

    // A live call appears; drag it onto 201's lamp (free again).
    await page.waitForSelector('[data-testid=panel-call][draggable=true]');
    await page.waitForSelector(lampSel('pbx:201@ext-local') + '[data-lamp=free]');
    await page.screenshot({ path: `${shots}/panel-1920x1080.png` });
    await page.dragAndDrop('[data-testid=panel-call]', lampSel('pbx:201@ext-local'));
    await said(page, '201');
    step('dragged', { said: await page.textContent('#panel-live') });

    // The keyboard way: Enter on the call's button, Tab to the next
    // lamp (202), Enter.
    await page.focus('[data-testid=panel-call-pick]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=panel-pick]:not([hidden])');
    const first = await page.evaluate(() => document.activeElement.dataset.id);
    await page.keyboard.press('Tab');
    const second = await page.evaluate(() => document.activeElement.dataset.id);
    await page.keyboard.press('Enter');
    await said(page, '202');
    step('keyboard-transfer', { first, second, pickHidden: await page.isHidden('[data-testid=panel-pick]') });

    // Enter on a lamp dials it from the operator's own phone.
    await page.focus(lampSel('pbx:203@ext-local'));
    await page.keyboard.press('Enter');
    await said(page, '203');
    step('dialed', { said: await page.textContent('#panel-live') });

    // 203 makes a call: its lamp names the other party.
    await page.waitForSelector(lampSel('pbx:203@ext-local') + ' [data-testid=lamp-other]');
    step('other-party', { text: await page.textContent(lampSel('pbx:203@ext-local') + ' [data-testid=lamp-other]') });

    // Pause Anna (PJSIP/201) in support with a reason, then resume.
    const anna = tileSel('pbx:support') + ' [data-testid=queue-member][data-member="PJSIP/201"]';
    await page.fill(anna + ' [data-testid=pause-reason]', 'training');
    await page.click(anna + ' [data-testid=member-pause]');
    await said(page, 'PJSIP/201');
    step('paused');
    await page.waitForSelector(anna + '[data-paused=true]');
    const pausedText = await page.textContent(anna + ' [data-testid=member-state]');
    const prev = await page.textContent('#panel-live');
    await page.click(anna + ' [data-testid=member-resume]');
    await page.waitForFunction((p) => document.getElementById('panel-live').textContent !== p, prev);
    step('resumed', { pausedText });
    await page.waitForSelector(anna + '[data-paused=false]');

    // The filter.
    await page.fill('[data-testid=panel-filter]', '205');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lamp]').length === 1);
    const filtered = Object.keys(await lamps(page));
    await page.fill('[data-testid=panel-filter]', '');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lamp]').length > 1);
    step('filtered', filtered);

    // Sizes: the panel and the queue view on a phone and a big screen.
    const problems = {};
    for (const [w, h] of [[390, 844], [1920, 1080], [3840, 2160]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.goto(url + 'panel');
      await page.waitForSelector(tileSel('pbx:support'));
      await page.waitForSelector(lampSel('pbx:205@ext-local'));
      problems[`panel ${w}x${h}`] = await layoutProblems(page);
      await page.screenshot({ path: `${shots}/panel-${w}x${h}.png`, fullPage: w < 1000 });
      await page.goto(url + '?view=queues');
      await page.waitForSelector('[data-testid=wall-queue][data-id="pbx:support"]');
      problems[`queues ${w}x${h}`] = await layoutProblems(page);
      await page.screenshot({ path: `${shots}/queues-${w}x${h}.png`, fullPage: w < 1000 });
    }
    // German words are longer: the same sizes in German.
    await page.goto(url + 'panel');
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-de]')]);
    for (const [w, h] of [[390, 844], [1920, 1080]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.goto(url + 'panel');
      await page.waitForSelector(tileSel('pbx:support'));
      await page.waitForSelector(lampSel('pbx:205@ext-local'));
      if (await page.getAttribute('html', 'lang') !== 'de') throw new Error('the panel is not in German');
      problems[`panel de ${w}x${h}`] = await layoutProblems(page);
      await page.screenshot({ path: `${shots}/panel-de-${w}x${h}.png`, fullPage: w < 1000 });
      await page.goto(url + '?view=queues');
      await page.waitForSelector('[data-testid=wall-queue][data-id="pbx:support"]');
      problems[`queues de ${w}x${h}`] = await layoutProblems(page);
    }
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-en]')]);
    await page.setViewportSize({ width: 3840, height: 2160 });
    await page.goto(url + 'wall?view=queues');
    await page.waitForSelector('[data-testid=wall-queue][data-id="pbx:support"]');
    problems['wall queues 3840x2160'] = await layoutProblems(page);
    await page.screenshot({ path: `${shots}/wall-queues-3840x2160.png` });
    const tile = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-testid=wall-queue][data-id="pbx:support"] .wq-fig')].map((f) => [f.dataset.testid, {
      text: f.querySelector('.wq-v').textContent, level: f.dataset.level, px: parseFloat(getComputedStyle(f.querySelector('.wq-v')).fontSize),
    }])));
    step('layout', { problems, tile });
  } finally {
    await close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
