// Headless Chromium (Debian package) for the browser tests: loopback only, fake media devices.
// npm i playwright-core   (no browser download needed)
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

// Chromium honours only the LAST --disable-features switch and Playwright puts its own list
// first, so a plain '--disable-features=WebRtcHideLocalIpsWithMdns' in args silently drops
// Playwright's list. Re-pass Playwright's list (playwright-core 1.65.1) plus ours.
const PLAYWRIGHT_DISABLED = 'AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,' +
  'HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,' +
  'AvoidCorsURLLoaderRestartOnRedirect,TcpPortRandomizationWin,OptimizationHints,NetworkTimeServiceQuerying,' +
  'AimEnabled,PreconnectToSearch';

async function launch({ fakeAudioWav, executablePath = process.env.CHROMIUM || '/usr/bin/chromium', extraArgs = [] } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-')); // fresh profile per run
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true, // Playwright adds --headless itself; --user-data-dir must NOT be in args (Playwright throws)
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream',          // auto-accept the getUserMedia prompt
      '--use-fake-device-for-media-stream',
      ...(fakeAudioWav ? ['--use-file-for-fake-audio-capture=' + path.resolve(fakeAudioWav)] : []), // loops; append %noloop to play once
      '--autoplay-policy=no-user-gesture-required',
      '--allow-loopback-in-peer-connection',     // without it Chromium gathers no 127.0.0.1/::1 candidates
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1', // no DNS lookups leave the host
      '--disable-features=' + PLAYWRIGHT_DISABLED + ',WebRtcHideLocalIpsWithMdns', // raw IPs, no mDNS responder
      ...extraArgs,
    ],
  });
  const close = async () => { await ctx.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); };
  return { ctx, page: ctx.pages()[0] || await ctx.newPage(), close };
}
module.exports = { launch };
