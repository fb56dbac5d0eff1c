// Times as every page shows them: in the one display zone of the server
// (the timezone key, handed over in <meta name="timezone">), never in the
// browser's own, so that a wall screen, a history page and a CSV file say
// the same time for the same call wherever they are opened. 24-hour
// clock in every language; the date in the page's language (its
// catalogue's format.date_layout: 31.12.2026, 2026-12-31), the same forms
// as the server's (web/views.go formatWhen).
'use strict';
window.SwitchboardTime = (() => {
  const meta = document.querySelector('meta[name="timezone"]');
  let zone = (meta && meta.content) || undefined;
  const options = {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  };
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat('en-GB', { ...options, timeZone: zone });
  } catch (err) {
    // A zone this browser does not know yet: its own zone, said once.
    console.warn(`time zone ${zone}: ${err.message}; showing the browser's own`);
    zone = undefined;
    fmt = new Intl.DateTimeFormat('en-GB', options);
  }

  // layout is the language's date as Go writes it (2006 year, 01
  // month, 02 day).
  const i18n = window.SwitchboardI18n;
  const layout = i18n && !i18n.t('format.date_layout').startsWith('⟦') ? i18n.t('format.date_layout') : '2006-01-02';

  // parts returns the date and time of an instant in the display zone.
  function parts(t) {
    const out = {};
    for (const p of fmt.formatToParts(t instanceof Date ? t : new Date(t))) out[p.type] = p.value;
    return {
      iso: `${out.year}-${out.month}-${out.day}`,
      date: layout.replace(/2006|01|02/g, (k) => ({ 2006: out.year, '01': out.month, '02': out.day }[k])),
      hm: `${out.hour}:${out.minute}`,
      hms: `${out.hour}:${out.minute}:${out.second}`,
    };
  }

  return Object.freeze({
    // zone is the display zone's IANA name (undefined: the browser's).
    zone,
    // when shows t as 15:04:05 when it falls on the same day as now,
    // else as 2006-01-02 15:04; now defaults to the browser's clock.
    when(t, now = Date.now()) {
      const p = parts(t);
      return p.iso === parts(now).iso ? p.hms : `${p.date} ${p.hm}`;
    },
    // dateTime shows t as 2006-01-02 15:04:05 (31.12.2026 15:04:05).
    dateTime(t) {
      const p = parts(t);
      return `${p.date} ${p.hms}`;
    },
    // day is t's date in the display zone, 2006-01-02 in every language
    // (for comparing and for addresses, not for showing).
    day(t) { return parts(t).iso; },
    // date shows t's date in the page's language.
    date(t) { return parts(t).date; },
  });
})();
