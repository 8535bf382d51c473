/* Officer calls banner (templates/calls_banner.html): poll /ui/calls/feed every 5 s, redraw the list and the
   count, and play a short two-tone chime (Web Audio API, no audio file) when a call nobody has seen appears.
   No inline script anywhere (CSP script-src 'self'); text goes in with textContent only. */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var banner = document.getElementById("calls-banner");
  if (!banner) { return; }
  var list = document.getElementById("calls-list");
  var count = document.getElementById("calls-count");
  var known = {};
  Array.prototype.forEach.call(list.querySelectorAll("li.call"), function (li) { known[li.dataset.id] = true; });
  var audio = null;

  function chime() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      audio = audio || new Ctx();
      if (audio.state === "suspended" && audio.resume) { audio.resume(); }
      [880, 660].forEach(function (freq, i) {
        var start = audio.currentTime + i * 0.22;
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(start);
        osc.stop(start + 0.21);
      });
      banner.dataset.chimes = String(Number(banner.dataset.chimes || "0") + 1);
    } catch (e) { /* no sound device: the banner still shows the call */ }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function form(call, action, label, cls) {
    var f = el("form", "inline");
    f.method = "post";
    f.action = "/ui/calls/" + encodeURIComponent(call.id) + "/" + action;
    [["csrf_token", banner.dataset.csrf], ["back", banner.dataset.back]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1] || "";
      f.appendChild(input);
    });
    var button = el("button", cls, label);
    button.type = "submit";
    f.appendChild(button);
    return f;
  }

  function draw(data) {
    var fresh = false;
    var items = [];
    data.calls.forEach(function (call) {
      if (!known[call.id]) { fresh = true; known[call.id] = true; }
      var li = el("li", "call call-" + call.status);
      li.dataset.id = call.id;
      li.appendChild(el("span", "call-kind", call.kind));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("strong", "call-location", call.location));
      li.appendChild(document.createTextNode(" "));
      var screen = el("span", "call-screen", call.screen);
      screen.title = banner.dataset.labelScreen || "";
      li.appendChild(screen);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "call-reason", call.reason));
      li.appendChild(document.createTextNode(" "));
      var age = el("span", "call-age", call.age);
      age.dataset.age = String(call.age_s);
      li.appendChild(age);
      if (call.status === "acknowledged") {
        li.appendChild(el("span", "call-ack", banner.dataset.labelOnTheWay + ": " + (call.acknowledged_by || "")));
      } else {
        li.appendChild(form(call, "acknowledge", banner.dataset.labelAcknowledge, "call-acknowledge"));
      }
      li.appendChild(form(call, "close", banner.dataset.labelClose, "call-close"));
      items.push(li);
    });
    if (!items.length) { items.push(el("li", "call-none", banner.dataset.labelNone)); }
    list.replaceChildren.apply(list, items);
    count.textContent = String(data.count);
    banner.classList.toggle("calls-waiting", data.count > 0);
    if (fresh) { chime(); }
  }

  function poll() {
    fetch(banner.dataset.feed, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && data.calls) { draw(data); } })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  // a browser plays sound only after the page had a user gesture: prepare the audio context on the first one
  document.addEventListener("click", function () {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx && !audio) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }, { once: true });
  window.setTimeout(poll, POLL_MS);
})();
