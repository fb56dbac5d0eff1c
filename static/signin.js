// Single sign-on from a framed page. OpenID providers refuse to be
// framed, so inside a portal's frame the sign-in opens in a popup; when
// it is done, the popup hands a one-time code to this frame (to our own
// origin only), and the frame trades it for a session cookie in its own
// partitioned jar (POST /login/oidc/claim). The popup's last page runs
// this file too, as the sender.
(function () {
  "use strict";
  var own = window.location.origin;

  // The popup's last page: hand the code to the frame that opened it.
  var handoff = document.getElementById("sso-handoff");
  if (handoff) {
    var opener = window.opener;
    if (!opener || opener.closed) return; // the page says to close it and reload
    try {
      opener.postMessage({ type: "switchboard.signin", v: 1, code: handoff.getAttribute("data-code") }, own);
    } catch (e) {
      return;
    }
    window.setTimeout(function () { window.close(); }, 200);
    return;
  }

  // The sign-in page inside a frame: the SSO link opens a popup.
  var link = document.querySelector('[data-testid="login-sso"]');
  if (!link || window.self === window.top) return;
  var popup = null;
  link.addEventListener("click", function (e) {
    e.preventDefault();
    var u = new URL(link.href, own);
    u.searchParams.set("popup", "1");
    popup = window.open(u.toString(), "switchboard-signin", "popup,width=520,height=680");
    if (!popup) window.location.href = link.href; // popups blocked: try in the frame
  });
  window.addEventListener("message", function (e) {
    if (e.origin !== own || !popup || e.source !== popup) return;
    var d = e.data || {};
    if (d.type !== "switchboard.signin" || d.v !== 1 || typeof d.code !== "string") return;
    var body = new URLSearchParams({ code: d.code });
    fetch("/login/oidc/claim", { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("claim " + r.status);
        var next = new URL(link.href, own).searchParams.get("next") || "/";
        window.location.href = next;
      })
      .catch(function () {
        var p = document.createElement("p");
        p.className = "alert";
        p.setAttribute("role", "alert");
        p.textContent = SwitchboardI18n.t("js.signin.failed");
        link.parentNode.appendChild(p);
      });
  });
})();
