/* Worksheet behaviour: autosave status, retries, live changes, presence.
 *
 * - Each field saves on a typing pause and when leaving it (htmx attributes in the
 *   page); this script shows "Opslaan…", keeps edits that could not be sent in
 *   localStorage and retries them, and asks before leaving with unsent edits.
 * - Every 3 seconds, while the tab is visible, it asks the change feed for news
 *   (204 = nothing new). Fields someone is typing in are never replaced.
 */
(function () {
  "use strict";

  var feed = document.getElementById("changes");
  if (!feed || !window.htmx) { return; }

  var pending = {};     // question key -> true while an edit is in flight or failed to send
  var conflicted = {};  // question key -> true while a conflict waits for a decision
  var storeKey = "stappenplan:unsent:" + location.pathname;

  function statusEl(key) { return document.getElementById("status-" + key); }

  function setStatus(key, html, cls) {
    var el = statusEl(key);
    if (el) { el.innerHTML = html; el.className = "save-status" + (cls ? " " + cls : ""); }
  }

  function keyOf(elt) {
    var holder = elt && elt.closest ? elt.closest("[data-q]") : null;
    return holder ? holder.getAttribute("data-q") : null;
  }

  function loadUnsent() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }

  function saveUnsent(map) {
    try { localStorage.setItem(storeKey, JSON.stringify(map)); } catch (e) { /* storage full or off */ }
  }

  function rememberUnsent(elt) {
    if (!elt.id || !("value" in elt) || elt.type === "radio" || elt.type === "checkbox") { return; }
    var map = loadUnsent();
    map[elt.id] = elt.value;
    saveUnsent(map);
  }

  function forgetUnsent(elt) {
    var map = loadUnsent();
    if (elt.id && map[elt.id] !== undefined) { delete map[elt.id]; saveUnsent(map); }
  }

  // --- autosave status -------------------------------------------------------------
  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    var key = keyOf(evt.detail.elt);
    if (!key) { return; }
    if (conflicted[key]) {
      // A conflict waits for a decision: saving again would only conflict again.
      // The text stays in the field; "Mijn versie bewaren" sends it.
      evt.preventDefault();
      setStatus(key, "Kies hieronder welke versie je wilt bewaren.", "save-status--error");
      return;
    }
    pending[key] = true;
    setStatus(key, "Opslaan…", "save-status--busy");
  });

  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    var resolving = elt && elt.getAttribute && elt.getAttribute("data-resolve");
    if (resolving) {
      var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
      if (status >= 200 && status < 300) { delete conflicted[resolving]; delete pending[resolving]; }
      return;
    }
    var key = keyOf(elt);
    if (!key) { return; }
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status && xhr.status < 500) {
      delete pending[key];
      forgetUnsent(elt);
      if (xhr.status === 409) { conflicted[key] = true; } else if (xhr.status < 300) { delete conflicted[key]; }
      return;
    }
    // Network failure, time-out or server error: keep the edit and retry.
    rememberUnsent(elt);
    setStatus(key, 'Niet opgeslagen — <button type="button" class="link-button" data-retry="' +
      (elt.id || "") + '">opnieuw proberen</button>', "save-status--error");
  });

  document.body.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-retry]");
    if (button) {
      var elt = document.getElementById(button.getAttribute("data-retry"));
      if (elt) { htmx.trigger(elt, "retry"); }
    }
  });

  function retryAll() {
    var map = loadUnsent();
    Object.keys(map).forEach(function (id) {
      var elt = document.getElementById(id);
      if (elt && !elt.readOnly && !elt.disabled) {
        if (elt.value !== map[id] && document.activeElement !== elt) { elt.value = map[id]; }
        htmx.trigger(elt, "retry");
      }
    });
  }
  window.addEventListener("online", retryAll);
  setInterval(function () { if (Object.keys(pending).length && navigator.onLine !== false) { retryAll(); } }, 10000);
  // Edits that never reached the server before the page was closed come back.
  document.addEventListener("DOMContentLoaded", function () { setTimeout(retryAll, 500); });

  window.addEventListener("beforeunload", function (evt) {
    if (Object.keys(pending).length || Object.keys(conflicted).length || Object.keys(loadUnsent()).length) {
      evt.preventDefault();
      evt.returnValue = "";
    }
  });

  // --- which field am I in (for presence and for the change feed) -------------------
  var editing = document.getElementById("editing");
  function fieldKey(elt) {
    var area = elt && elt.closest ? elt.closest(".field-area") : null;
    return area ? area.id.replace(/^field-/, "") : "";
  }
  document.addEventListener("focusin", function (evt) {
    if (editing) { editing.value = fieldKey(evt.target); }
  });
  document.addEventListener("focusout", function () {
    setTimeout(function () { if (editing) { editing.value = fieldKey(document.activeElement); } }, 0);
  });

  // Never replace the field someone is typing in, nor one with an unsent edit.
  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id || target.id.indexOf("field-") !== 0) { return; }
    var key = target.id.slice(6);
    if (target.contains(document.activeElement) || pending[key]) {
      evt.detail.shouldSwap = false;
      var notice = document.getElementById("notice-" + key);
      if (notice) {
        notice.innerHTML = '<p class="notice">Iemand anders heeft dit antwoord net gewijzigd. ' +
          "Als je verder typt en dat botst, laten we beide versies zien.</p>";
      }
    }
  });

  // --- polling the change feed ------------------------------------------------------
  var interval = parseInt(feed.getAttribute("data-poll") || "3000", 10);
  var polling = false;
  feed.addEventListener("htmx:beforeRequest", function () { polling = true; });
  feed.addEventListener("htmx:afterRequest", function () { polling = false; });
  setInterval(function () {
    if (document.visibilityState === "visible" && !polling) { htmx.trigger(feed, "poll"); }
  }, interval);
})();
