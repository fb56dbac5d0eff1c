// The pages' words in the reader's language: the server hands the page
// its catalogue (<script id="i18n" type="application/json">, see
// web/language.go), and every script takes its texts from here, never
// from English written into the script. t('js.phone.ready') returns a
// message; t(id, { To: '1234' }) fills {{.To}}; a message with plural
// forms picks one by vars.Count.
'use strict';
window.SwitchboardI18n = (() => {
  const node = document.getElementById('i18n');
  let cat = { lang: document.documentElement.lang || 'en', messages: {} };
  try {
    if (node) cat = JSON.parse(node.textContent);
  } catch (err) {
    console.warn(`message catalogue: ${err.message}`);
  }
  const lang = cat.lang || 'en';
  const plurals = new Intl.PluralRules(lang);
  const numbers = new Map();

  function t(id, vars = {}) {
    let m = cat.messages[id];
    if (m === undefined) {
      console.warn(`message ${id} is missing from the catalogue`);
      return `⟦${id}⟧`;
    }
    if (typeof m === 'object') m = m[plurals.select(Number(vars.Count))] || m.other;
    return m.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) => (vars[k] === undefined ? '' : String(vars[k])));
  }

  // number writes n with the language's decimal mark and grouping.
  function number(n, digits = 0) {
    let f = numbers.get(digits);
    if (!f) {
      f = new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
      numbers.set(digits, f);
    }
    return f.format(n);
  }

  return Object.freeze({ lang, t, number });
})();
