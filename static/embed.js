// Switchboard in an intranet portal: one <script> line, then
//   <switchboard-phone></switchboard-phone>
//   <switchboard-calls mine></switchboard-calls>
//   <switchboard-wallboard theme="dark"></switchboard-wallboard>
// Each element frames the matching /embed/ view of the Switchboard that
// served this file (or its server="https://..." attribute) and talks to
// it over postMessage, protocol version 1 (README "Embedding in a
// portal"): events out of the frame become DOM events on the element
// ("registration", "call.ringing", "call.answered", "call.held",
// "call.ended", "calls"; event.detail has number and name), and the
// element's methods send commands in: dial(number), answer(), hangup(),
// hold(), resume(), transfer(number). Messages are accepted only from
// the frame's window at Switchboard's origin and sent to that exact
// origin, never "*". tel: and sip: links anywhere on the page dial on
// the docked <switchboard-phone>.
(function () {
  "use strict";
  var VERSION = 1;
  var script = document.currentScript;
  var defaultServer = script && script.src ? new URL(script.src).origin : window.location.origin;

  var views = {
    "switchboard-phone": { path: "/embed/phone", width: "360px", height: "560px", allow: "microphone; autoplay" },
    "switchboard-calls": { path: "/embed/calls", width: "100%", height: "320px", allow: "" },
    "switchboard-wallboard": { path: "/embed/wallboard", width: "100%", height: "480px", allow: "" },
  };

  // normalise turns what a tel: or sip: link, or a person, wrote into
  // what the softphone dials: no scheme, no parameters, no visual
  // separators; a leading + kept; a SIP URI's user part when it is a
  // number, else the whole address.
  function normalise(raw) {
    var s = String(raw == null ? "" : raw).trim();
    try { s = decodeURIComponent(s); } catch (e) { /* keep as written */ }
    var sip = /^sips?:/i.test(s);
    s = s.replace(/^(tel|sips?|callto):/i, "").replace(/^\/\//, "");
    s = s.split(/[;?]/)[0];
    if (sip) {
      var at = s.indexOf("@");
      var user = at >= 0 ? s.slice(0, at) : s;
      if (!/^\+?[\d\s().\-\/]+$/.test(user)) return s;
      s = user;
    }
    var plus = s.charAt(0) === "+";
    s = s.replace(/[^\d*#a-zA-Z]/g, "");
    return (plus ? "+" : "") + s;
  }

  function define(tag, view) {
    if (window.customElements.get(tag)) return;
    window.customElements.define(tag, class extends HTMLElement {
      static get observedAttributes() { return ["theme", "line", "mine"]; }

      connectedCallback() {
        if (this._frame) return;
        this._server = new URL(this.getAttribute("server") || defaultServer, window.location.href).origin;
        this._ready = false;
        this._queue = [];
        var f = document.createElement("iframe");
        f.src = this._src();
        f.title = this.getAttribute("title") || "Switchboard";
        if (view.allow) f.allow = view.allow;
        f.style.border = "0";
        f.style.display = "block";
        f.style.width = this.getAttribute("width") || view.width;
        f.style.height = this.getAttribute("height") || view.height;
        f.style.maxWidth = "100%";
        f.style.minWidth = "320px";
        this._frame = f;
        var self = this;
        this._onMessage = function (e) { self._receive(e); };
        window.addEventListener("message", this._onMessage);
        // Hello at every load: the frame may have gone to the sign-in
        // page and back.
        f.addEventListener("load", function () {
          self._ready = false;
          self._post({ type: "hello" });
        });
        this.appendChild(f);
      }

      disconnectedCallback() {
        window.removeEventListener("message", this._onMessage);
        if (this._frame) this._frame.remove();
        this._frame = null;
      }

      attributeChangedCallback() {
        if (this._frame) this._frame.src = this._src();
      }

      _src() {
        var u = new URL(view.path, this._server || defaultServer);
        var theme = this.getAttribute("theme");
        if (theme === "light" || theme === "dark") u.searchParams.set("theme", theme);
        if (tag === "switchboard-calls") {
          // line="sales, 1001": the calls on those lines; mine: the
          // signed-in user's own.
          (this.getAttribute("line") || "").split(",").map(function (l) { return l.trim(); }).filter(Boolean)
            .forEach(function (l) { u.searchParams.append("line", l); });
          if (this.hasAttribute("mine")) u.searchParams.set("mine", "1");
        }
        return u.toString();
      }

      _post(msg) {
        if (!this._frame || !this._frame.contentWindow) return;
        msg.switchboard = VERSION;
        this._frame.contentWindow.postMessage(msg, this._server);
      }

      _receive(e) {
        if (!this._frame || e.source !== this._frame.contentWindow || e.origin !== this._server) return;
        var d = e.data;
        if (!d || typeof d !== "object" || d.switchboard !== VERSION) return;
        if (d.type === "ready") {
          this._ready = true;
          var q = this._queue;
          this._queue = [];
          for (var i = 0; i < q.length; i++) this._post(q[i]);
          this.dispatchEvent(new CustomEvent("ready", { detail: d }));
          return;
        }
        if (d.type === "event" && typeof d.event === "string") {
          this.dispatchEvent(new CustomEvent(d.event, { detail: d }));
        }
      }

      _command(command, number) {
        var msg = { type: "command", command: command };
        if (number !== undefined) msg.number = normalise(number);
        if (this._ready) this._post(msg);
        else this._queue.push(msg);
      }

      dial(number) { this._command("dial", number); }
      answer() { this._command("answer"); }
      hangup() { this._command("hangup"); }
      hold() { this._command("hold"); }
      resume() { this._command("resume"); }
      transfer(number) { this._command("transfer", number); }

      // registerTelHandler asks the browser to open tel: links of other
      // pages and programs on this portal page (which must load
      // embed.js and have a <switchboard-phone>): a user action must
      // call it.
      registerTelHandler() {
        if (!navigator.registerProtocolHandler) return false;
        var u = new URL(window.location.href);
        u.search = "";
        u.hash = "";
        navigator.registerProtocolHandler("tel", u.toString() + "?switchboard-dial=%s");
        return true;
      }
    });
  }

  Object.keys(views).forEach(function (tag) { define(tag, views[tag]); });

  function dockedPhone() { return document.querySelector("switchboard-phone"); }

  // Click-to-dial: tel: and sip: links go to the docked softphone.
  document.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a[href^="tel:"], a[href^="sip:"], a[href^="sips:"]') : null;
    var phone = dockedPhone();
    if (!a || !phone || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    phone.dial(a.getAttribute("href"));
  }, true);

  // A tel: link the browser handed to this page (registerTelHandler).
  var handed = new URL(window.location.href).searchParams.get("switchboard-dial");
  if (handed) {
    var go = function () { var p = dockedPhone(); if (p) p.dial(handed); };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
    else go();
  }

  window.SwitchboardEmbed = { version: VERSION, normalise: normalise };
})();
