// belay console: follow the audit stream and swap in the page's live region when an event
// touches what it shows. No framework; the server renders (and escapes) everything.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !live.dataset.fragment || typeof EventSource === "undefined") return;
  var fragment = live.dataset.fragment;
  var all = live.dataset.all === "1";
  var split = function (s) { return (s || "").split(" ").filter(Boolean); };
  var runs = new Set(split(live.dataset.runs));
  var incidents = new Set(split(live.dataset.incidents));
  var timer = null;
  var deferred = false;
  var quiet = false;
  var say = function (text) { if (status) status.textContent = text; };

  // Someone typing a reason keeps their text: the swap waits until they leave the field.
  function busy() {
    var a = document.activeElement;
    return !!a && live.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.value !== "";
  }

  function refresh() {
    timer = null;
    if (busy()) { deferred = true; return; }
    fetch(fragment, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (res) {
        if (res.status === 401) { say("Your session has ended: reload the page to sign in again."); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : "";
        var before = planHashes();
        live.innerHTML = html;
        // A plan that changed under the reader's eyes is said out loud before anyone approves it.
        var after = planHashes();
        Object.keys(after).forEach(function (run) {
          if (before[run] && before[run] !== after[run]) {
            var section = live.querySelector('[data-run-id="' + run + '"]');
            if (!section) return;
            var note = document.createElement("p");
            note.className = "notice error";
            note.setAttribute("role", "alert");
            note.textContent = "The plan of run " + run + " changed while this page was open: review it again before you approve.";
            section.insertBefore(note, section.firstChild);
          }
        });
        live.querySelectorAll("[data-run-id]").forEach(function (el) { runs.add(el.getAttribute("data-run-id")); });
        if (focused) { var el = document.getElementById(focused); if (el) el.focus(); }
        if (!quiet) say("Updated at " + new Date().toLocaleTimeString());
        quiet = false;
        live.dispatchEvent(new CustomEvent("belay:updated", { bubbles: true }));
      })
      .catch(function () { say("Could not refresh; the page shows what it last knew."); });
  }

  function planHashes() {
    var out = {};
    live.querySelectorAll("[data-run-id][data-plan-hash]").forEach(function (el) { out[el.getAttribute("data-run-id")] = el.getAttribute("data-plan-hash"); });
    return out;
  }

  function schedule() { if (timer === null) timer = setTimeout(refresh, 200); }

  document.addEventListener("focusout", function () { if (deferred) { deferred = false; setTimeout(schedule, 0); } });
  live.querySelectorAll("[data-run-id]").forEach(function (el) { runs.add(el.getAttribute("data-run-id")); });

  var source = new EventSource("/console/events");
  // Events between rendering the page and this (re)connection were missed: fetch once now.
  source.addEventListener("hello", function () { say("Live"); quiet = true; schedule(); });
  source.addEventListener("audit", function (ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (all || (m.run && runs.has(m.run)) || (m.incident && incidents.has(m.incident))) { quiet = false; schedule(); }
  });
  source.onerror = function () { say("Live updates paused; reconnecting…"); };
})();
