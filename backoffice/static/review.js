/* The guards' queue and review page (issue #19). Loaded on every page (base.html, defer); acts only where
   its elements are. No inline script anywhere (CSP script-src 'self').
   - queue: polls /ui/queue/count every 10 s and reloads when the set of waiting cases changed; waiting
     times stay current (every 30 s, from data-since, in the words the page carries);
   - review: keyboard shortcuts a (admit), r (refuse), f (refer), n (next case), q (queue); one press
     decides, as one click on a button does; a second submission is blocked. */
(function () {
  "use strict";

  function typing(ev) {
    var el = ev.target;
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function pollQueue(box) {
    var url = box.getAttribute("data-count-url");
    var version = box.getAttribute("data-version");
    function tick() {
      fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.version && body.version !== version) window.location.reload();
        })
        .catch(function () { /* offline for a moment: try again at the next tick */ });
    }
    window.setInterval(tick, 10000);
  }

  function shortcuts() {
    var form = document.getElementById("decision-form");
    var submitted = false;
    if (form) {
      form.addEventListener("submit", function (ev) {
        if (submitted) { ev.preventDefault(); return; }
        submitted = true;
        // disable after the browser has taken the pressed button's name/value into the submission
        window.setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    }
    var buttons = {a: "rv-admit", r: "rv-refuse", f: "rv-refer"};
    var links = {n: "rv-next", q: "rv-queue"};
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || typing(ev)) return;
      var key = (ev.key || "").toLowerCase();
      var button = buttons[key] && document.getElementById(buttons[key]);
      if (button && !button.disabled && !submitted) {
        ev.preventDefault();
        if (form && form.requestSubmit) form.requestSubmit(button); else button.click();
        return;
      }
      var link = links[key] && document.getElementById(links[key]);
      if (link) {
        ev.preventDefault();
        window.location.assign(link.href);
      }
    });
  }

  // "waiting 12 min" kept current every 30 s from data-since (UTC ISO), in the page's words
  function fill(template, values) {
    return template.replace(/\{(\w)(?::02d)?\}/g, function (all, name) {
      var v = values[name];
      return /:02d/.test(all) && v < 10 ? "0" + v : String(v);
    });
  }

  function tickWaiting() {
    var words = document.getElementById("rv-wait-words");
    if (!words) return;
    var w = words.dataset;
    document.querySelectorAll(".rv-wait[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (isNaN(since)) return;
      var m = Math.max(0, Math.floor((Date.now() - since) / 60000));
      var span;
      if (m < 1) span = w.under;
      else if (m < 60) span = fill(w.minutes, {m: m});
      else if (m < 1440) span = fill(w.hours, {h: Math.floor(m / 60), m: m % 60});
      else span = fill(w.days, {d: Math.floor(m / 1440), h: Math.floor((m % 1440) / 60)});
      el.textContent = fill(w.waiting, {n: span});
    });
  }

  function start() {
    if (document.getElementById("rv-wait-words")) window.setInterval(tickWaiting, 30000);
    var box = document.getElementById("queue-page");
    if (box) pollQueue(box);
    if (box || document.getElementById("review-page")) shortcuts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
