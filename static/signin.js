// Hands a single sign-on made in a popup to the framed page that opened
// it: the frame's cookies live in the portal's partition, which this
// top-level window cannot write, so the frame trades the one-time code
// for its own session. The message goes to our own origin only.
(function () {
  "use strict";
  var el = document.getElementById("sso-handoff");
  if (!el) return;
  var code = el.getAttribute("data-code");
  var opener = window.opener;
  if (!opener || opener.closed) return; // the text says to close and reload
  try {
    opener.postMessage({ type: "switchboard.signin", v: 1, code: code }, window.location.origin);
  } catch (e) {
    return;
  }
  window.setTimeout(function () { window.close(); }, 200);
})();
