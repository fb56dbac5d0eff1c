// The framed side of the embedding API (protocol version 1; README
// "Embedding in a portal"). A portal page (static/embed.js) says hello
// to this frame; if its origin is one of embed_origins (meta tag
// "embed-origins": exact origins or https://*.domain), the frame answers
// "ready" and from then on sends it the softphone's events, and takes
// its commands. Messages go to that exact origin only, never "*", and
// any message from another origin or window is ignored.
(function () {
  "use strict";
  var VERSION = 1;
  var meta = document.querySelector('meta[name="embed-origins"]');
  if (!meta || window.parent === window) return;
  var allowed = meta.getAttribute("content").split(/\s+/).filter(Boolean);
  var portal = null; // the origin that said hello

  // allows checks an origin against embed_origins: equal, or for
  // https://*.example.com a host of one or more labels in front of
  // example.com, with the same scheme and port.
  function allows(origin) {
    var o;
    try { o = new URL(origin); } catch (err) { return false; }
    for (var i = 0; i < allowed.length; i++) {
      var a = allowed[i];
      if (a === origin) return true;
      if (a.indexOf("://*.") < 0) continue;
      var p;
      try { p = new URL(a.replace("://*.", "://wildcard.")); } catch (err) { continue; }
      var domain = p.hostname.slice("wildcard".length); // ".example.com"
      if (o.protocol === p.protocol && o.port === p.port && o.hostname.length > domain.length &&
          o.hostname.slice(-domain.length) === domain) return true;
    }
    return false;
  }

  function post(msg) {
    if (!portal) return;
    msg.switchboard = VERSION;
    window.parent.postMessage(msg, portal);
  }

  var view = document.documentElement.getAttribute("data-view") || (document.querySelector('[data-testid="phone"]') ? "phone" : "");
  var registrations = {};

  window.addEventListener("message", function (e) {
    if (e.source !== window.parent || !allows(e.origin)) return;
    var d = e.data;
    if (!d || typeof d !== "object" || d.switchboard !== VERSION) return;
    if (d.type === "hello") {
      portal = e.origin;
      post({ type: "ready", view: view, user: (document.querySelector('[data-testid="user"]') || {}).textContent || "" });
      // What the portal missed before it said hello.
      Object.keys(registrations).forEach(function (k) { post(registrations[k]); });
      return;
    }
    if (e.origin !== portal) return;
    if (d.type === "command" && typeof d.command === "string") {
      document.dispatchEvent(new CustomEvent("switchboard:command", {
        detail: { command: d.command, number: typeof d.number === "string" ? d.number : undefined },
      }));
    }
  });

  document.addEventListener("switchboard:phone", function (e) {
    var d = e.detail || {};
    var msg = { type: "event", event: d.event };
    ["account", "state", "call", "direction", "number", "name"].forEach(function (k) {
      if (d[k] !== undefined) msg[k] = d[k];
    });
    if (d.event === "registration") registrations[d.account] = msg;
    post(msg);
  });

  // The wallboard views tell the portal when their calls change, so a
  // tile can show a count.
  var calls = document.querySelector('[data-testid="calls"], #calls');
  if (calls && view !== "phone" && window.MutationObserver) {
    new MutationObserver(function () {
      post({ type: "event", event: "calls", count: calls.querySelectorAll(":scope > li").length });
    }).observe(calls, { childList: true, subtree: false });
  }
})();
