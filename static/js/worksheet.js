/* Worksheet client: autosave that cannot lose work, live changes from others, presence.
 *
 * Every autosaved thing is a UNIT: one question (all its inputs) or one table cell.
 * A unit remembers its BASE: the server version and the value its edits started from.
 * Each save sends the value, the base version and the base value; when someone else
 * saved in between, the server merges both changes (three-way, per word) or answers
 * 409 with the conflict view.
 *
 *   state    | meaning                                       | leaves on
 *   ---------+-----------------------------------------------+-------------------------------------------
 *   idle     | the field shows what the server has           | typing or a tick -> dirty
 *   dirty    | changed, not sent yet (a short timer runs)    | pause, leaving the field, a tick -> saving
 *   saving   | one request in flight (never two per unit)    | 2xx -> idle, or dirty when typed meanwhile
 *            |                                               | 409 -> conflict; 422 -> invalid
 *            |                                               | 400 -> fresh token, send again (once)
 *            |                                               | 401 -> auth; 429 -> waiting; 404 -> gone
 *            |                                               | network error or 5xx -> failed
 *   failed   | not sent; retried with back-off               | timer, "online", button -> saving
 *   waiting  | too many saves at once (429)                  | after Retry-After -> saving
 *   auth     | the session ended (401)                       | "opnieuw opslaan", tab focus -> saving
 *   invalid  | the server refused the input (its message)    | typing -> dirty
 *   conflict | the same words changed; the field is frozen   | keep mine / merge -> saving; theirs -> idle
 *   gone     | cannot be saved here any more (404, refused)  | (only a reload)
 *
 * Every state but idle keeps the edit in localStorage (the value, the base version and
 * the base value): after closing the tab, the next visit sends it with its own base, so
 * the server merges it or shows the conflict, and never overwrites someone silently.
 * The change feed never replaces a unit that is not idle; a field with the focus gets
 * new text in place, the caret kept. "Mijn versie bewaren" sends the text kept when the
 * conflict arose, never whatever the field holds by then.
 */
(function () {
  "use strict";

  var feed = document.getElementById("changes");
  if (!feed || !window.htmx) { return; }

  var TYPING_PAUSE = 600;       // ms after the last keystroke before a text is saved
  var MAX_BACKOFF = 30000;
  var messages = {};
  try { messages = JSON.parse(document.getElementById("sheet-messages").textContent); } catch (e) { messages = {}; }
  var storeKey = "stappenplan:unsent:" + location.pathname;
  var EDITABLE = '.field-area[data-save]:not([data-save=""])';
  var units = {};               // unit id -> unit
  var staleAreas = {};          // question key -> a newer field area could not be shown yet

  function t(name, vars) {
    var text = messages[name] || name;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("%(" + k + ")s").join(vars[k]); });
    return text;
  }

  function esc(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  // --- the form data of a unit, as a browser would send it ------------------------------------

  function inputsOf(unit) {
    if (!unit.el || (!unit.probe && !unit.el.isConnected)) { return []; }
    return Array.prototype.filter.call(unit.el.querySelectorAll("input, select, textarea"), function (el) {
      return el.name && unit.names.indexOf(el.name) !== -1;
    });
  }

  function pairsOf(unit) {
    var pairs = [];
    inputsOf(unit).forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { pairs.push([el.name, el.value]); }
      } else {
        pairs.push([el.name, el.value]);
      }
    });
    return pairs;
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function caretSafeSet(el, value) {
    if (el.value === value) { return; }
    var focused = document.activeElement === el && typeof el.selectionStart === "number";
    var old = el.value;
    var caret = focused ? el.selectionStart : 0;
    el.value = value;
    if (focused) {
      var prefix = 0;
      while (prefix < old.length && prefix < value.length && old[prefix] === value[prefix]) { prefix++; }
      var pos = caret <= prefix ? caret : Math.max(prefix, caret + value.length - old.length);
      pos = Math.min(pos, value.length);
      try { el.setSelectionRange(pos, pos); } catch (e) { /* date inputs have no caret */ }
    }
  }

  // Put server values into a unit's inputs (checkboxes ticked, text kept around the caret).
  function applyPairs(unit, pairs) {
    inputsOf(unit).forEach(function (el) {
      var values = pairs.filter(function (p) { return p[0] === el.name; }).map(function (p) { return p[1]; });
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = values.indexOf(el.value) !== -1;
      } else if (el.tagName === "SELECT") {
        el.value = values.length ? values[0] : "";
      } else if (el.type !== "hidden" || values.length) {
        caretSafeSet(el, values.length ? values[0] : "");
      }
    });
  }

  function pairsIn(root, unit) {
    var probe = { el: root, names: unit.names, probe: true };   // server HTML outside the page
    return pairsOf(probe);
  }

  // --- units ------------------------------------------------------------------------------------

  function areaOf(key) { return document.getElementById("field-" + key); }

  function versionOf(key) {
    var el = document.getElementById("v-" + key);
    return el ? el.value : "0";
  }

  function setVersion(key, value) {
    var el = document.getElementById("v-" + key);
    if (el && value !== null && value !== undefined) { el.value = value; }
  }

  function origInput(unit) {
    return document.getElementById("o-" + unit.key + "--" + unit.row + "--" + unit.col);
  }

  // Find (or create) the units of every editable field area in root.
  function scan(root) {
    var areas = root.matches && root.matches(EDITABLE) ? [root] :
      Array.prototype.slice.call(root.querySelectorAll(EDITABLE));
    areas.forEach(function (area) {
      var key = area.getAttribute("data-key");
      var cells = area.querySelectorAll("[data-row][data-col]");
      if (cells.length) {
        Array.prototype.forEach.call(cells, function (input) {
          var row = input.getAttribute("data-row"), col = input.getAttribute("data-col");
          adopt("c:" + key + "|" + row + "|" + col, {
            key: key, row: row, col: col, kind: "cell", el: input.closest(".cell") || input.parentNode,
            names: ["q-" + key + "--" + row + "--" + col], url: area.getAttribute("data-save")
          });
        });
      } else {
        var names = (area.getAttribute("data-params") || "").split(",").filter(function (n) {
          return n && n.indexOf("v-") !== 0;
        });
        adopt("q:" + key, { key: key, kind: "question", el: area, names: names, url: area.getAttribute("data-save"),
                            area: area.getAttribute("data-area") });
      }
    });
  }

  function adopt(id, fresh) {
    var unit = units[id];
    if (!unit) {
      unit = units[id] = fresh;
      unit.id = id;
      unit.state = "idle";
      unit.attempts = 0;
    } else {
      unit.el = fresh.el;
      unit.names = fresh.names;
      unit.url = fresh.url;
      if (fresh.area) { unit.area = fresh.area; }
    }
    if (unit.state === "idle") { rebase(unit); }
  }

  // The unit's base becomes what its inputs show now (after a swap of server HTML).
  function rebase(unit) {
    unit.base = { version: versionOf(unit.key), pairs: pairsOf(unit) };
    if (unit.kind === "cell") {
      var orig = origInput(unit);
      unit.base.orig = orig ? orig.value : "null";
    }
  }

  function unitFor(el) {
    if (!el || !el.closest || !el.name) { return null; }
    var area = el.closest(EDITABLE);
    if (!area) { return null; }
    var key = area.getAttribute("data-key");
    var id = el.hasAttribute("data-row") ? "c:" + key + "|" + el.getAttribute("data-row") + "|" +
      el.getAttribute("data-col") : "q:" + key;
    if (!units[id]) {
      scan(area);
      if (units[id]) { units[id].unknownBase = true; }   // found only now: its base may include this edit
    }
    var unit = units[id];
    return unit && unit.names.indexOf(el.name) !== -1 ? unit : null;
  }

  function unitsOf(key) {
    return Object.keys(units).map(function (id) { return units[id]; }).filter(function (u) { return u.key === key; });
  }

  function busy(unit) { return unit.state !== "idle"; }

  // --- status line and kept edits ----------------------------------------------------------

  function setStatus(unit, html, cls) {
    var el = document.getElementById("status-" + unit.key);
    if (el) { el.innerHTML = html; el.className = "save-status" + (cls ? " " + cls : ""); el.removeAttribute("data-action-failed"); }
  }

  function loadKept() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }

  function keep(unit) {
    var kept = loadKept();
    kept[unit.id] = { pairs: unit.conflict ? unit.conflict.mine : pairsOf(unit), base: unit.base, at: Date.now() };
    try { localStorage.setItem(storeKey, JSON.stringify(kept)); } catch (e) { /* storage full or off */ }
  }

  function forget(unit) {
    var kept = loadKept();
    if (kept[unit.id]) {
      delete kept[unit.id];
      try {
        if (Object.keys(kept).length) { localStorage.setItem(storeKey, JSON.stringify(kept)); }
        else { localStorage.removeItem(storeKey); }
      } catch (e) { /* ignore */ }
    }
  }

  function freeze(unit, on) {
    inputsOf(unit).forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio" || el.tagName === "SELECT") {
        el.disabled = on;
      } else if (el.type !== "hidden") {
        el.readOnly = on;
      }
    });
  }

  // --- saving --------------------------------------------------------------------------------

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function setCsrfToken(token) {
    document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": token }));
  }

  function touched(unit, immediately) {
    if (unit.state === "conflict" || unit.state === "gone") { return; }
    if (unit.state !== "saving") { unit.state = "dirty"; }
    else { unit.queued = true; }
    keep(unit);
    clearTimeout(unit.timer);
    unit.timer = setTimeout(function () { send(unit); }, immediately ? 0 : TYPING_PAUSE);
  }

  function bodyFor(unit, pairs, opts) {
    var body = new URLSearchParams();
    pairs.forEach(function (p) { body.append(p[0], p[1]); });
    body.append("v-" + unit.key, opts.version);
    if (unit.kind === "cell") {
      body.append("op", "edit");
      body.append("row", unit.row);
      body.append("col", unit.col);
      if (opts.forceOld !== undefined) { body.append("force_old", opts.forceOld); }
      else { body.append("o-" + unit.key + "--" + unit.row + "--" + unit.col, unit.base.orig); }
    } else if (opts.withBase) {
      body.append("has_base", "1");
      unit.base.pairs.forEach(function (p) { body.append("b:" + p[0], p[1]); });
    }
    return body;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRFToken": csrfToken(), "Accept": "text/html" }
    });
  }

  // Send the unit's current value (or ``opts.pairs``) on top of its base.
  function send(unit, opts) {
    opts = opts || {};
    clearTimeout(unit.timer);
    if (unit.inflight) { unit.queued = true; return Promise.resolve(); }
    if (!opts.pairs && (unit.state === "conflict" || unit.state === "gone")) { return Promise.resolve(); }
    var pairs = opts.pairs || pairsOf(unit);
    if (!opts.pairs && !unit.unknownBase && same(pairs, unit.base.pairs)) {   // nothing new: never send a saved value again
      unit.state = "idle";
      unit.queued = false;
      forget(unit);
      return Promise.resolve();
    }
    unit.state = "saving";
    unit.queued = false;
    unit.unknownBase = false;
    unit.inflight = true;
    setStatus(unit, esc(t("saving")), "save-status--busy");
    var version = opts.version !== undefined ? opts.version : unit.base.version;
    var body = bodyFor(unit, pairs, { version: version, withBase: !opts.forced, forceOld: opts.forceOld });
    var request = post(unit.url, body).then(function (response) {
      return response.text().then(function (text) { return handle(unit, response, text, pairs, opts); });
    }, function () {
      unit.inflight = false;
      failed(unit, navigator.onLine === false ? "offline" : "failed");
    });
    // What waits for this save (a row button) waits for its whole course, a fresh token included.
    unit.request = request;
    request.then(function () { if (unit.request === request) { unit.request = null; } });
    return request;
  }

  function handle(unit, response, text, pairs, opts) {
    unit.inflight = false;
    var code = response.status;
    var doc = new DOMParser().parseFromString(text, "text/html");
    if (response.redirected && /\/inloggen/.test(response.url)) { code = 401; }
    if (code >= 200 && code < 300) { return saved(unit, doc, pairs, opts); }
    if (code === 409 && response.headers.get("HX-Retarget")) { return conflicted(unit, doc, pairs); }
    if (code === 422) {
      unit.state = "invalid";
      keep(unit);
      var error = doc.querySelector(".error-text");
      setStatus(unit, error ? error.outerHTML : esc(t("failed")), "save-status--error");
      return null;
    }
    if (code === 400 && !opts.tokenRefreshed) {
      return refreshToken().then(function (ok) {
        if (ok === "login") { return loggedOut(unit); }
        if (!ok) { return failed(unit, "failed"); }
        opts.tokenRefreshed = true;
        unit.state = "dirty";
        return send(unit, opts);
      });
    }
    if (code === 401) { return loggedOut(unit); }
    if (code === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "10", 10) || 10;
      unit.state = "waiting";
      keep(unit);
      setStatus(unit, esc(t("busy", { s: wait })), "save-status--error");
      clearTimeout(unit.timer);
      unit.timer = setTimeout(function () { send(unit, opts.pairs ? opts : undefined); }, wait * 1000);
      return null;
    }
    if (code === 404 || code === 410 || code === 409) {
      unit.state = "gone";
      keep(unit);
      var reason = doc.querySelector(".error-text");
      setStatus(unit, (reason ? reason.outerHTML + " " : "") + esc(t("gone")), "save-status--error");
      return null;
    }
    return failed(unit, "failed");
  }

  function refreshToken() {
    return fetch(feed.getAttribute("data-token-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { return "login"; }
        if (!r.ok) { return false; }
        return r.json().then(function (data) { setCsrfToken(data.csrf_token); return true; });
      }, function () { return false; });
  }

  function failed(unit, why) {
    unit.state = "failed";
    keep(unit);
    unit.attempts += 1;
    setStatus(unit, esc(t(why)) + ' <button type="button" class="link-button" data-retry="' + esc(unit.id) + '">' +
      esc(t("retry")) + "</button>", "save-status--error");
    clearTimeout(unit.timer);
    var delay = Math.min(MAX_BACKOFF, 2000 * Math.pow(2, unit.attempts - 1));
    unit.timer = setTimeout(function () { retry(unit); }, delay);
    return null;
  }

  function loggedOut(unit) {
    unit.state = "auth";
    keep(unit);
    setStatus(unit, esc(t("auth")) + ' <a href="' + esc(feed.getAttribute("data-login-url")) +
      '" target="_blank" rel="noopener">' + esc(t("login")) + '</a> · <button type="button" class="link-button" data-retry="' +
      esc(unit.id) + '">' + esc(t("save_again")) + "</button>", "save-status--error");
    return null;
  }

  function retry(unit) {
    if (unit.conflict && unit.resolving) { return resolve(unit, unit.resolving); }
    if (["failed", "waiting", "auth", "dirty", "invalid"].indexOf(unit.state) === -1) { return; }
    unit.state = "dirty";
    send(unit);
  }

  function saved(unit, doc, pairs, opts) {
    var version = doc.querySelector("#v-" + CSS.escape(unit.key));
    var newVersion = version ? version.value : unit.base.version;
    var status = doc.querySelector(".saved");
    var merged = doc.querySelector("script[data-merged]");
    var typedMeanwhile = !same(pairsOf(unit), pairs) && !opts.pairs;
    if (unit.kind === "cell") {
      var orig = doc.querySelector("[id^='o-']");
      unit.base = { version: newVersion, pairs: pairs, orig: orig ? orig.value : unit.base.orig };
      var here = origInput(unit);
      if (here && orig) { here.value = orig.value; }
    } else if (merged && typedMeanwhile) {
      // Keep the new typing; the next save merges it again from what was sent.
      unit.base = { version: unit.base.version, pairs: pairs };
    } else if (merged) {
      var serverPairs = JSON.parse(merged.textContent);
      applyPairs(unit, serverPairs);
      unit.base = { version: newVersion, pairs: serverPairs };
    } else {
      unit.base = { version: newVersion, pairs: pairs };
    }
    if (opts.pairs) { applyPairs(unit, pairs); }   // a decision: the field shows what was kept
    setVersion(unit.key, newVersion);
    unit.attempts = 0;
    if (unit.conflict) { endConflict(unit); }
    setStatus(unit, status ? status.outerHTML : "", "");
    var notice = document.getElementById("notice-" + unit.key);
    if (notice) { notice.innerHTML = ""; }
    if (unit.queued || typedMeanwhile) {
      unit.state = "dirty";
      keep(unit);
      unit.timer = setTimeout(function () { send(unit); }, 0);
    } else {
      unit.state = "idle";
      forget(unit);
      refreshStale(unit.key);
    }
    pollSoon();   // the worksheet's bar and the sequence number follow right away
    return null;
  }

  // --- conflicts -----------------------------------------------------------------------------

  function conflicted(unit, doc, pairs) {
    unit.state = "conflict";
    unit.conflict = { mine: pairs, theirsVersion: null, orig: unit.base.orig };
    keep(unit);
    freeze(unit, true);
    var area = document.getElementById("conflict-" + unit.key);
    var box = doc.body.firstElementChild;
    if (area && box) {
      unit.conflict.theirsVersion = box.getAttribute("data-theirs-version");
      var holder = document.createElement("div");
      holder.setAttribute("data-unit", unit.id);
      holder.appendChild(document.importNode(box, true));
      var previous = area.querySelector('[data-unit="' + CSS.escape(unit.id) + '"]');
      if (previous) { previous.remove(); }
      area.appendChild(holder);
      htmx.process(holder);
      // The whole choice in view (clear of the sticky bar), the heading focused: the
      // buttons are the next Tab stops.
      holder.scrollIntoView({ block: "center" });
      var heading = holder.querySelector("h4");
      if (heading) { heading.focus({ preventScroll: true }); }
    }
    setStatus(unit, esc(t("conflict")), "save-status--error");
    // One message: the panel says what happened and what to choose; an earlier "we add
    // your change" notice would contradict it.
    var notice = document.getElementById("notice-" + unit.key);
    if (notice) { notice.innerHTML = ""; }
    return null;
  }

  function endConflict(unit) {
    unit.conflict = null;
    unit.resolving = null;
    freeze(unit, false);
    var area = document.getElementById("conflict-" + unit.key);
    var holder = area && area.querySelector('[data-unit="' + CSS.escape(unit.id) + '"]');
    if (holder) { holder.remove(); }
  }

  function focusUnit(unit) {
    var first = inputsOf(unit).filter(function (el) { return el.type !== "hidden"; })[0];
    if (first) { first.focus(); }
  }

  function resolve(unit, choice, button) {
    unit.resolving = choice;
    if (choice === "mine") {
      return send(unit, { pairs: unit.conflict.mine, version: unit.conflict.theirsVersion, forced: true })
        .then(function () { if (unit.state === "idle") { focusUnit(unit); } });
    }
    if (choice === "mine-cell") {
      return send(unit, { pairs: unit.conflict.mine, forced: true, forceOld: button.getAttribute("data-theirs") })
        .then(function () { if (unit.state === "idle") { focusUnit(unit); } });
    }
    if (choice === "merge") {
      var text = document.getElementById("merge-" + unit.key);
      var body = new URLSearchParams();
      body.append("merge", "1");
      body.append("base", unit.conflict.theirsVersion);
      body.append("merge-" + unit.key, text ? text.value : "");
      unit.inflight = true;
      return post(unit.url, body).then(function (response) {
        return response.text().then(function (html) {
          unit.inflight = false;
          if (response.ok) { return takeArea(unit, html); }
          return handle(unit, response, html, unit.conflict.mine, {});
        });
      }, function () { unit.inflight = false; failed(unit, "failed"); });
    }
    // theirs: the current server version, for this unit (other pending edits stay)
    return fetch(unit.area || areaOf(unit.key).getAttribute("data-area"), {
      credentials: "same-origin", headers: { "HX-Request": "true" }
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) { return handle(unit, response, html, unit.conflict.mine, {}); }
        return takeArea(unit, html);
      });
    }, function () { failed(unit, "failed"); });
  }

  // Show a field area sent by the server for ``unit`` after a decision.
  function takeArea(unit, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("field-" + unit.key);
    if (!fresh) { return null; }
    unit.state = "idle";
    endConflict(unit);
    forget(unit);
    showArea(unit.key, fresh, [unit.id]);
    var status = document.getElementById("status-" + unit.key);
    if (status) { status.innerHTML = ""; status.className = "save-status"; }
    focusUnit(units[unit.id] || unit);
    return null;
  }

  // --- newer versions from the server (change feed, decisions) -------------------------------

  // Show ``fresh`` (a field area from the server) as far as it is safe: replace the whole
  // area when all its units are idle and it has no focus; otherwise put the new values
  // into the idle units in place and remember that the rest is still to come.
  function showArea(key, fresh, force) {
    var area = areaOf(key);
    if (!area) { return; }
    var mine = unitsOf(key);
    var pending = mine.filter(function (u) { return busy(u) && (force || []).indexOf(u.id) === -1; });
    if (!pending.length && !area.contains(document.activeElement)) {
      var copy = document.importNode(fresh, true);
      copy.removeAttribute("hx-swap-oob");
      area.replaceWith(copy);
      htmx.process(copy);
      mine.forEach(function (u) { delete units[u.id]; });
      scan(copy);
      delete staleAreas[key];
      return;
    }
    var complete = true;
    var freshVersion = fresh.querySelector("#v-" + CSS.escape(key));
    mine.forEach(function (unit) {
      if (pending.indexOf(unit) !== -1) { complete = false; return; }
      var source = unit.kind === "cell" ? fresh.querySelector('[data-row="' + CSS.escape(unit.row) + '"][data-col="' +
        CSS.escape(unit.col) + '"]') : fresh;
      if (!source) { complete = false; return; }
      var values = pairsIn(unit.kind === "cell" ? (source.closest(".cell") || source.parentNode) : fresh, unit);
      applyPairs(unit, values);
      unit.base = { version: freshVersion ? freshVersion.value : unit.base.version, pairs: values };
      if (unit.kind === "cell") {
        var orig = fresh.querySelector("#o-" + CSS.escape(key + "--" + unit.row + "--" + unit.col));
        unit.base.orig = orig ? orig.value : "null";
        var here = origInput(unit);
        if (here) { here.value = unit.base.orig; }
      }
    });
    if (freshVersion && !pending.length) { setVersion(key, freshVersion.value); }
    if (unit_count(fresh) !== mine.filter(function (u) { return u.kind === "cell"; }).length) { complete = false; }
    if (!complete) { staleAreas[key] = true; }
    return pending;
  }

  function unit_count(fresh) { return fresh.querySelectorAll("[data-row][data-col]").length; }

  // Once a field is idle again, fetch the part of a newer version that had to wait.
  function refreshStale(key) {
    if (!staleAreas[key] || unitsOf(key).some(busy)) { return; }
    var area = areaOf(key);
    if (!area || !area.getAttribute("data-area")) { return; }
    fetch(area.getAttribute("data-area"), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || unitsOf(key).some(busy)) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("field-" + key);
        if (fresh) { showArea(key, fresh); }
      }, function () { /* the next change will bring it */ });
  }

  // The worksheet's bar: not replaced when nothing in it changed (a click on its button
  // must never land on a button that is being swapped), and focus stays on its button.
  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || target.id !== "sheet-bar") { return; }
    var fresh = evt.detail.fragment && evt.detail.fragment.firstElementChild;
    if (fresh && fresh.innerHTML === target.innerHTML) {
      evt.detail.shouldSwap = false;
      return;
    }
    var buttons = Array.prototype.slice.call(target.querySelectorAll("button, a, summary"));
    var focused = buttons.indexOf(document.activeElement);
    if (focused !== -1) {
      setTimeout(function () {
        var bar = document.getElementById("sheet-bar");
        var again = bar && bar.querySelectorAll("button, a, summary")[focused];
        if (again) { again.focus(); }
      }, 0);
    }
  });

  // A partner's new comment: its question's count goes up; said politely, and an open
  // thread nobody is writing in shows it.
  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id || target.id.indexOf("comment-count-") !== 0) { return; }
    var fresh = evt.detail.fragment && (evt.detail.fragment.id === target.id ? evt.detail.fragment :
      evt.detail.fragment.querySelector && evt.detail.fragment.querySelector("#" + CSS.escape(target.id)));
    var before = Number(target.getAttribute("data-count") || 0);
    var after = Number(fresh && fresh.getAttribute ? fresh.getAttribute("data-count") || 0 : before);
    if (after <= before || !fresh.hasAttribute("data-news")) { return; }  // news: from the change feed only
    var key = target.id.slice("comment-count-".length);
    var label = document.getElementById("label-" + key);
    if (window.announceNews) {
      window.announceNews(t("commented", { question: label ? label.textContent.replace(/\s+/g, " ").trim() : "" }));
    }
    var thread = document.getElementById("thread-" + key);
    var details = thread && thread.closest("details");
    var box = thread && thread.querySelector("textarea");
    var summary = details && details.querySelector("summary[hx-get]");
    if (details && details.open && summary && (!box || (!box.value && document.activeElement !== box))) {
      htmx.ajax("GET", summary.getAttribute("hx-get"), { target: thread, swap: "innerHTML" });
    }
  });

  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id || target.id.indexOf("field-") !== 0) { return; }
    var key = target.id.slice(6);
    evt.detail.shouldSwap = false;   // this script decides (see showArea)
    var fresh = evt.detail.fragment && evt.detail.fragment.firstElementChild;
    if (!fresh || fresh.id !== target.id) {
      fresh = evt.detail.fragment && evt.detail.fragment.querySelector ? evt.detail.fragment.querySelector("#" + CSS.escape(target.id)) : null;
    }
    if (!fresh) { return; }
    var pending = showArea(key, fresh) || [];
    var notice = document.getElementById("notice-" + key);
    var who = fresh.getAttribute("data-changed-by") || t("someone");
    var label = document.getElementById("label-" + key);
    if (fresh.getAttribute("data-changed-by") && window.announceNews) {
      window.announceNews(t("changed", { name: who, question: label ? label.textContent.replace(/\s+/g, " ").trim() : "" }));
    }
    if (notice && pending.length) {
      notice.innerHTML = '<p class="notice">' + esc(t(pending.some(function (u) { return u.state === "conflict"; }) ?
        "updated" : "merging", { name: who })) + "</p>";
    }
  });

  // Send what is dirty and wait for the saves in flight, until no unit of
  // ``key`` is dirty or saving any more (a save may be followed by one of text typed meanwhile).
  function settle(key, rounds) {
    var mine = unitsOf(key);
    var waits = mine.filter(function (u) { return u.request; }).map(function (u) { return u.request; });
    mine.forEach(function (u) { if (!u.request && !u.inflight && u.state === "dirty") { waits.push(send(u)); } });
    if (!waits.length || rounds > 20) { return Promise.resolve(); }
    return Promise.all(waits).then(function () { return settle(key, rounds + 1); });
  }

  // A table's row buttons (htmx) wait until the table's cells are saved - also a save that
  // is already on its way (leaving a cell to click the button starts one). When a cell
  // cannot be saved, the button does nothing and the status line says so.
  document.body.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt;
    var area = elt && elt.closest ? elt.closest(EDITABLE) : null;
    if (!area) { return; }
    var key = area.getAttribute("data-key");
    if (!unitsOf(key).some(busy)) { return; }
    evt.preventDefault();
    var question = elt.getAttribute("hx-confirm");
    if (question && !window.confirm(question)) { return; }
    settle(key, 0).then(function () {
      if (!unitsOf(key).some(busy)) {
        evt.detail.issueRequest(true);
        return;
      }
      var status = document.getElementById("status-" + key);
      if (status) {
        status.innerHTML = esc(t("row_waits")) + " " + status.innerHTML;
        status.className = "save-status save-status--error";
      }
    });
  });

  // A row button's answer replaces the whole table, button and all: keyboard users keep
  // their place - in the new row, on the moved row's button, or where the deleted row was.
  var rowAction = null;

  function rowCards(area) {
    return Array.prototype.slice.call(area.querySelectorAll(".row-card:not(.row-card--new)"));
  }

  function rowOp(button) {
    try { return JSON.parse(button.getAttribute("hx-vals") || "{}"); } catch (e) { return {}; }
  }

  function firstField(card) {
    return Array.prototype.slice.call(card.querySelectorAll(".row-card__cells input, .row-card__cells textarea, " +
      ".row-card__cells select")).filter(function (el) { return el.type !== "hidden" && el.offsetParent !== null; })[0];
  }

  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    var area = elt && elt.closest ? elt.closest(".field-area") : null;
    if (!area || elt.tagName !== "BUTTON" || !elt.closest(".rows")) { return; }
    var op = rowOp(elt);
    if (!op.op) { return; }
    rowAction = { area: area.id, op: op.op, row: op.row, index: rowCards(area).indexOf(elt.closest(".row-card")),
      button: elt };
  });

  // The element that issued an htmx request (in the response events, ``detail.elt`` may be
  // the target instead).
  function requester(evt) {
    return (evt.detail.requestConfig && evt.detail.requestConfig.elt) || evt.detail.elt;
  }

  document.body.addEventListener("htmx:afterRequest", function (evt) {
    // No answer to swap in (no connection, a server error): nothing to put the focus on later.
    if (rowAction && requester(evt) === rowAction.button && !evt.detail.successful) { rowAction = null; }
  });

  // A field's button (a table's row buttons, "Deze versie terugzetten") answers with the
  // new field area. When it fails, the answer is something else: the server's reason
  // ("Niet opgeslagen: ...", 409/422) goes into the field's status line; an error card (a
  // server fault) or no answer at all leaves the field as it was and the status line says
  // nothing changed. Without this the answer took the field's place - rows, inputs and
  // buttons gone until a reload.
  function fieldTarget(evt) {
    var target = evt.detail.target;
    return target && target.classList && target.classList.contains("field-area") ? target : null;
  }

  function statusOf(area) { return document.getElementById("status-" + area.getAttribute("data-key")); }

  function fieldFailed(area, html) {
    var el = statusOf(area);
    if (el) { el.innerHTML = html; el.className = "save-status save-status--error"; el.setAttribute("data-action-failed", ""); }
  }

  function fieldWorked(area) {   // the next button that works takes the failure's message away
    var el = statusOf(area);
    if (el && el.hasAttribute("data-action-failed")) {
      el.innerHTML = "";
      el.className = "save-status";
      el.removeAttribute("data-action-failed");
    }
  }

  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var area = fieldTarget(evt);
    if (!area || !evt.detail.shouldSwap) { return; }
    var doc = new DOMParser().parseFromString(evt.detail.serverResponse || "", "text/html");
    if (doc.getElementById(area.id)) { fieldWorked(area); return; }
    evt.detail.shouldSwap = false;
    rowAction = null;
    var reason = doc.querySelector(".error-text");
    var title = doc.querySelector(".error-page h1");
    fieldFailed(area, reason ? reason.outerHTML :
      esc((title ? title.textContent.trim().replace(/\.?$/, ". ") : "") + t("action_failed")));
  });

  document.body.addEventListener("htmx:sendError", function (evt) {
    var area = fieldTarget(evt);
    if (!area) { return; }
    rowAction = null;
    fieldFailed(area, esc(t(navigator.onLine === false ? "action_offline" : "action_failed")));
  });

  document.body.addEventListener("htmx:afterSettle", function (evt) {
    var action = rowAction;
    var area = action && document.getElementById(action.area);
    if (!area || evt.target !== area) { return; }
    rowAction = null;
    var cards = rowCards(area);
    var target = null;
    if (action.op === "add") {
      target = cards.length ? firstField(cards[cards.length - 1]) : null;
    } else if (action.op === "up" || action.op === "down") {
      var moved = cards.filter(function (card) { return card.id === "row-" + area.getAttribute("data-key") + "-" + action.row; })[0];
      var buttons = moved ? Array.prototype.slice.call(moved.querySelectorAll(".row-card__actions button")) : [];
      target = buttons.filter(function (b) { return rowOp(b).op === action.op && !b.disabled; })[0] ||
        buttons.filter(function (b) { return !b.disabled; })[0];
    } else if (action.op === "delete") {
      var next = cards[Math.min(action.index, cards.length - 1)];
      target = next ? firstField(next) : area.querySelector(".rows > button");
    }
    if (target) { target.focus(); }
  });

  // New server HTML in the page (a table's row operation, a comment, history): find its units.
  document.body.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.querySelectorAll) { return; }
    var areas = elt.matches(EDITABLE) ? [elt] : Array.prototype.slice.call(elt.querySelectorAll(EDITABLE));
    areas.forEach(function (area) {
      var key = area.getAttribute("data-key");
      unitsOf(key).forEach(function (u) { if (!busy(u)) { delete units[u.id]; } });
      scan(area);
    });
  });

  // --- events from the person ---------------------------------------------------------------

  function onEdit(evt) {
    var unit = unitFor(evt.target);
    if (!unit) { return; }
    var el = evt.target;
    var instant = el.type === "checkbox" || el.type === "radio" || el.tagName === "SELECT" || el.type === "date";
    if (evt.type === "change" && !instant) { return; }   // text: the input events and leaving decide
    touched(unit, instant);
  }
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);

  document.addEventListener("focusout", function (evt) {
    var unit = unitFor(evt.target);
    if (unit && unit.state === "dirty") { send(unit); }
    var left = fieldKey(evt.target);
    setTimeout(function () {
      if (editing) { editing.value = fieldKey(document.activeElement); }
      // A partner's change that waited while the focus was in this field (a row they
      // added to the table we were in) shows once the focus is out of it.
      if (left && fieldKey(document.activeElement) !== left) { refreshStale(left); }
      pollSoon();
    }, 0);
  });

  // A missing question in the bar: go there and put the cursor in it.
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest('#sheet-bar a[href^="#vraag-"]');
    var section = link && document.getElementById(link.getAttribute("href").slice(1));
    var first = section && section.querySelector("input:not([type=hidden]), textarea, select");
    if (first) {
      evt.preventDefault();
      section.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
      history.replaceState(null, "", link.getAttribute("href"));
    }
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-retry], [data-resolve]");
    if (!button) { return; }
    if (button.hasAttribute("data-retry")) {
      var unit = units[button.getAttribute("data-retry")];
      if (unit) {
        if (unit.state === "auth") { unit.state = "dirty"; }
        retry(unit);
      }
      return;
    }
    var box = button.closest("[data-unit]");
    var target = box && units[box.getAttribute("data-unit")];
    if (target && target.conflict) { resolve(target, button.getAttribute("data-resolve"), button); }
  });

  window.addEventListener("online", function () {
    Object.keys(units).forEach(function (id) { if (units[id].state === "failed") { retry(units[id]); } });
  });
  window.addEventListener("focus", function () {
    Object.keys(units).forEach(function (id) { if (units[id].state === "auth") { units[id].state = "dirty"; retry(units[id]); } });
  });

  // Leaving the page (a step button's form post, a link): a change feed answer that arrives
  // meanwhile must not reload this page, or the reload would replace the next page and its
  // message ("Stap 1 is afgerond") with this one.
  var leaving = false;
  window.addEventListener("beforeunload", function (evt) {
    var unsent = Object.keys(units).some(function (id) { return busy(units[id]); });
    if (unsent) {
      evt.preventDefault();
      evt.returnValue = "";
    } else {
      leaving = true;
      // Still here after a while (a download, a navigation that did not happen): carry on.
      setTimeout(function () { leaving = false; }, 5000);
    }
  });
  window.addEventListener("pageshow", function () { leaving = false; });  // back from the cache
  feed.addEventListener("htmx:beforeOnLoad", function (evt) {
    if (leaving) { evt.preventDefault(); }
  });

  // --- presence: which field am I in ---------------------------------------------------------

  var editing = document.getElementById("editing");
  function fieldKey(elt) {
    var area = elt && elt.closest ? elt.closest(".field-area") : null;
    return area ? area.id.replace(/^field-/, "") : "";
  }
  document.addEventListener("focusin", function (evt) {
    if (editing) {
      var key = fieldKey(evt.target);
      if (editing.value !== key) { editing.value = key; pollSoon(); }
    }
  });

  // --- polling the change feed: every second while others are here, else every 3 s -----------
  // With a live stream open (below) the feed is fetched only when the stream announces news;
  // the interval polls only while there is no stream (refused, cut, silent, or push off).

  var polling = false;
  var again = false;            // news announced while a fetch was on its way: fetch once more
  var lastPoll = 0;
  var soon = null;
  feed.addEventListener("htmx:beforeRequest", function () { polling = true; lastPoll = Date.now(); });
  feed.addEventListener("htmx:afterRequest", function () {
    polling = false;
    if (again) { again = false; poll(); }
  });

  function interval() {
    var together = document.querySelector("#presence li");
    return parseInt(feed.getAttribute(together ? "data-poll" : "data-poll-alone") || "3000", 10);
  }

  function poll(news) {
    if (document.visibilityState !== "visible") { return; }
    if (polling) { again = again || !!news; return; }
    htmx.trigger(feed, "poll");
  }

  function pollSoon() {
    clearTimeout(soon);
    soon = setTimeout(poll, 250);
  }

  setInterval(function () {
    if (live.ok || Date.now() < live.quietUntil) { return; }
    if (Date.now() - lastPoll >= interval() - 50) { poll(); }
  }, 500);

  // --- the live stream (data-live-url): ids and sequence numbers, never content -------------
  // Each (re)connect asks the app for a ticket (its access rules decide), opens the stream and
  // catches up through the feed from the page's sequence. A stream that fails, is cut or
  // stays silent past two heartbeats is closed and tried again later with back-off; the
  // page polls meanwhile and says nothing. Hidden tabs close their stream.

  var live = {
    url: feed.getAttribute("data-live-url"), ticketUrl: feed.getAttribute("data-live-ticket-url"),
    source: null, ok: false, failures: 0, heartbeat: 15000, timer: null, watchdog: null, quietUntil: 0
  };

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
    live.quietUntil = 0;
    live.failures += 1;
    var wait = Math.min(60000, 2000 * Math.pow(2, Math.min(live.failures, 5)));
    liveLater(wait / 2, wait);
    poll();
  }

  function liveAlive() {
    clearTimeout(live.watchdog);
    live.watchdog = setTimeout(liveFailed, live.heartbeat * 2 + 5000);
  }

  function liveOpen() {
    clearTimeout(live.timer);
    if (!live.url || !live.ticketUrl || !window.EventSource || live.source) { return; }
    if (document.visibilityState !== "visible") { return; }
    var field = editing ? "?editing=" + encodeURIComponent(editing.value) : "";
    fetch(live.ticketUrl + field, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("ticket " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (live.source || document.visibilityState !== "visible") { return; }
        var source = new EventSource(live.url + "?ticket=" + encodeURIComponent(data.ticket));
        live.source = source;
        source.addEventListener("hello", function (evt) {
          live.heartbeat = parseInt(evt.data, 10) || 15000;
          live.ok = true;
          live.failures = 0;
          liveAlive();
          poll(true);           // catch up from the page's sequence: nothing said meanwhile is lost
        });
        source.addEventListener("ping", liveAlive);
        source.addEventListener("change", function (evt) {
          liveAlive();
          // "resync": the service lost its database connection for a moment and tells every
          // page to catch up - spread over a few seconds, not all at once.
          if (String(evt.data).indexOf("resync") === 0) {
            setTimeout(function () { poll(true); }, Math.random() * 5000);
          } else {
            poll(true);
          }
        });
        source.addEventListener("bye", function (evt) {
          // The stream's time is up, or the service restarts: back soon, spread out.
          var restart = evt.data === "shutdown";
          liveClose();
          live.quietUntil = Date.now() + (restart ? 10000 : 5000);
          liveLater(restart ? 500 : 100, restart ? 8000 : 3000);
        });
        source.onerror = function () { if (live.source === source) { liveFailed(); } };
      })
      .catch(function () { if (!live.source) { liveFailed(); } });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { liveOpen(); } else { liveClose(); }
  });
  liveOpen();

  // --- start: units of the page, and edits kept from an earlier visit ------------------------

  function restoreKept() {
    var kept = loadKept();
    Object.keys(kept).forEach(function (id) {
      var unit = units[id];
      var entry = kept[id];
      if (!unit || !entry || !entry.base) { return; }
      if (inputsOf(unit).some(function (el) { return el.readOnly || el.disabled; })) { return; }
      applyPairs(unit, entry.pairs);
      unit.base = entry.base;               // the version the edit was based on, not this page's
      unit.state = "dirty";
      setStatus(unit, esc(t("restored")), "save-status--busy");
      unit.timer = setTimeout(function () { send(unit); }, 300);
    });
  }

  scan(document);
  restoreKept();
})();
