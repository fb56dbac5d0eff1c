// A stand-in for a browser script, for browsertest's own test: steps as
// phonelib.js prints them, waiting for a line on stdin after each while
// stdin is open. argv[2] says how it ends: "pass", "fail" (exit 3 with a
// word on stderr), "extra" (one step more) or "early" (before step two).
const mode = process.argv[2];
const waiting = [];
let open = true;
require('readline').createInterface({ input: process.stdin })
  .on('line', () => { if (waiting.length) waiting.shift()(); })
  .on('close', () => { open = false; while (waiting.length) waiting.shift()(); });
function step(s, v) {
  console.log(`STEP ${s}` + (v === undefined ? '' : ' ' + JSON.stringify(v)));
  return open ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve();
}
(async () => {
  console.log('NOTE before');
  await step('one', { n: 1, text: 'first' });
  if (mode === 'early') {
    console.error('gave up early');
    process.exit(2);
  }
  await step('two');
  console.log('NOTE after');
  if (mode === 'extra') await step('three');
  if (mode === 'fail') {
    console.error('the page said no');
    process.exit(3);
  }
})();
