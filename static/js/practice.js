/* The practice page: keep what someone is typing, and keep the keyboard focus in place.
   The page works without this script (plain form posts and reloads). */
(function () {
  "use strict";

  function cardOf(el) { return el && el.closest ? el.closest("[data-practice-card]") : null; }

  // A card with unsaved typing (or the focus) is not replaced by a partner's change from the
  // live feed; it says that the partner changed it, and the save merges or shows the difference.
  document.addEventListener("input", function (evt) {
    var card = cardOf(evt.target);
    if (card) { card.dataset.dirty = "1"; }
  });
  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    var card = target && target.matches && target.matches("[data-practice-card]") ? target : null;
    if (!card) { return; }
    var incoming = evt.detail.fragment && evt.detail.fragment.querySelector &&
      evt.detail.fragment.querySelector("[data-practice-card]");
    if (incoming && incoming.dataset.version === card.dataset.version) {
      evt.detail.shouldSwap = false;  // this page's own save: the card shows it already
      return;
    }
    if (card.dataset.dirty || card.contains(document.activeElement)) {
      evt.detail.shouldSwap = false;
      if (!card.querySelector(".practice-card__stale")) {
        var note = document.createElement("p");
        note.className = "practice-card__stale";
        note.textContent = document.getElementById("praktijk-nieuws").dataset.staleText || "";
        card.appendChild(note);
      }
    }
  });

  // After a save the card is new: the focus goes back to its save button, or to the first
  // field with a problem, never to the page's start.
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id) { return; }
    var card = target.matches && target.matches("[data-practice-card]") ? target : document.getElementById(target.id);
    if (card && card.matches && card.matches("[data-practice-card]") && evt.detail.requestConfig &&
        evt.detail.requestConfig.verb === "post") {
      var focus = card.querySelector("[aria-invalid=true]") || card.querySelector("button[type=submit]");
      if (focus) { focus.focus(); }
    }
    if (target.id === "praktijk-lijst-activity" && evt.detail.requestConfig && evt.detail.requestConfig.verb === "post") {
      var form = document.querySelector("#praktijk-toevoegen form");
      if (form) { form.reset(); }
      var added = target.lastElementChild && target.lastElementChild.querySelector("button[type=submit]");
      if (added) { added.focus(); }
    }
  });

  // --- live: the page's stream (data-live-url) says when to fetch the news ---------------------
  // As on the worksheet (worksheet.js): a ticket from the app per (re)connect, a catch-up from
  // the page's sequence on every open, polling every 3 s (the feed element's own trigger) only
  // while there is no stream, and no stream in a hidden tab.
  var box = document.getElementById("praktijk-live");
  var live = { source: null, ok: false, failures: 0, timer: null, watchdog: null, heartbeat: 15000 };

  function news() {
    var feed = document.getElementById("praktijk-nieuws");
    if (feed && window.htmx) { window.htmx.trigger(feed, "live"); }
  }

  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    if (!live.ok || !evt.detail.elt || evt.detail.elt.id !== "praktijk-nieuws") { return; }
    var cause = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    if (!cause || cause.type !== "live") { evt.preventDefault(); }  // the timer: the stream says when
  });

  function liveClose() {
    if (live.source) { live.source.close(); live.source = null; }
    live.ok = false;
    clearTimeout(live.watchdog);
  }

  function liveLater(min, max) {
    clearTimeout(live.timer);
    live.timer = setTimeout(liveOpen, min + Math.random() * (max - min));
  }

  function liveFailed() {
    liveClose();
    live.failures += 1;
    var wait = Math.min(60000, 2000 * Math.pow(2, Math.min(live.failures, 5)));
    liveLater(wait / 2, wait);
  }

  function liveAlive() {
    clearTimeout(live.watchdog);
    live.watchdog = setTimeout(liveFailed, live.heartbeat * 2 + 5000);
  }

  function liveOpen() {
    clearTimeout(live.timer);
    if (!box || !window.EventSource || live.source || document.visibilityState !== "visible") { return; }
    fetch(box.getAttribute("data-live-ticket-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("ticket " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (live.source || document.visibilityState !== "visible") { return; }
        var source = new EventSource(box.getAttribute("data-live-url") + "?ticket=" + encodeURIComponent(data.ticket));
        live.source = source;
        source.addEventListener("hello", function (evt) {
          live.heartbeat = parseInt(evt.data, 10) || 15000;
          live.ok = true;
          live.failures = 0;
          liveAlive();
          news();
        });
        source.addEventListener("ping", liveAlive);
        source.addEventListener("change", function (evt) {
          liveAlive();
          if (String(evt.data).indexOf("resync") === 0) { setTimeout(news, Math.random() * 5000); } else { news(); }
        });
        source.addEventListener("bye", function (evt) {
          liveClose();
          if (evt.data === "shutdown") { liveLater(500, 8000); } else { liveLater(100, 3000); }
        });
        source.onerror = function () { if (live.source === source) { liveFailed(); } };
      })
      .catch(function () { if (!live.source) { liveFailed(); } });
  }

  if (box) {
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { liveOpen(); } else { liveClose(); }
    });
    liveOpen();
  }

})();
