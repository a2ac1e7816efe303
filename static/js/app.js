/* Small progressive enhancements; the pages work without them. */
(function () {
  "use strict";

  // Lets CSS show JavaScript-only controls and hide their no-JavaScript fallbacks.
  document.documentElement.classList.add("js");

  // Buttons that close a panel: <button data-close="#selector" data-focus-after="#opener">.
  // The button goes with the panel, so the focus goes to the element it names (the button
  // that opened the panel), never to the page's start.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-close]");
    if (button) {
      var next = button.dataset.focusAfter ? document.querySelector(button.dataset.focusAfter) : null;
      var panel = document.querySelector(button.dataset.close);
      if (panel) { panel.innerHTML = ""; }
      if (next) { next.focus(); }
    }
  });

  // --- after an htmx swap: one rule for the focus and for what is said ------------------------
  // 1. The element that had the focus keeps it: after the swap the element with its id gets
  //    it back; when there is none, its named successor (data-focus-next on it or on an
  //    ancestor: a selector) does. A script that placed the focus itself is left alone.
  // 2. What an action did is announced through #live-polite / #live-assertive, which exist
  //    before the swap (the response fills them out of band: macros.announce). The region is
  //    emptied first, so the same words twice are said twice.
  // News from a partner (an edit, a comment) is said politely, at most once every few
  // seconds (what arrives meanwhile is said together), and never moves the focus.
  var ANNOUNCE_EVERY = 4000;
  var newsQueue = [];
  var newsTimer = null;
  var newsLast = 0;
  window.announceNews = function (text) {
    if (!text || newsQueue.indexOf(text) !== -1) { return; }
    newsQueue.push(text);
    if (newsTimer) { return; }
    newsTimer = window.setTimeout(function () {
      var region = document.getElementById("live-polite");
      var words = newsQueue.join(" ");
      newsQueue = [];
      newsTimer = null;
      newsLast = Date.now();
      if (!region) { return; }
      region.textContent = "";
      window.setTimeout(function () { region.textContent = words; }, 60);
    }, Math.max(0, newsLast + ANNOUNCE_EVERY - Date.now()));
  };

  // A field that gets the focus is shown whole when the window is short (400 % zoom):
  // the browser only scrolls a field that is out of view, not one half in view.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("textarea, input:not([type=hidden]), select")) { return; }
    var box = el.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) { el.scrollIntoView({ block: "nearest" }); }
  });

  var focusBefore = null;
  document.addEventListener("htmx:beforeSwap", function () {
    var active = document.activeElement;
    if (!active || active === document.body) { focusBefore = null; return; }
    var named = active.closest ? active.closest("[data-focus-next]") : null;
    focusBefore = { elt: active, id: active.id, next: named ? named.getAttribute("data-focus-next") : null };
  });
  function focusable(el) {
    if (!el.matches("a[href], button, input, select, textarea, summary, [tabindex]")) { el.setAttribute("tabindex", "-1"); }
    return el;
  }
  document.addEventListener("htmx:afterSettle", function () {
    var before = focusBefore;
    if (!before) { return; }
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) { focusBefore = null; return; }
    if (document.body.contains(before.elt)) { focusBefore = null; return; }
    focusBefore = null;
    var target = (before.id && document.getElementById(before.id)) || (before.next && document.querySelector(before.next));
    if (target) { focusable(target).focus(); }
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || (target.id !== "live-polite" && target.id !== "live-assertive")) { return; }
    var text = event.detail.fragment ? event.detail.fragment.textContent.trim() : "";
    event.detail.shouldSwap = false;
    target.textContent = "";
    window.setTimeout(function () { target.textContent = text; }, 60);
  });

  // Print buttons: <button data-print> (the page's print styles leave out the menus).
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      window.print();
    }
  });

  // Confirmation before destructive plain form posts (<form data-confirm="...">).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !form.hasAttribute("hx-post")) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  });

  // A plain form post that is on its way: its button shows that it is busy, and a second
  // press (a double click, an impatient user) sends nothing more - "Stap 4 goedkeuren" or
  // "Herinnering sturen" once, not twice. The button is not disabled (a disabled button's
  // name and value would be left out of the post), only marked. Restored when the page
  // comes back from the browser's cache, and after a while for a download, which does not
  // leave the page. (htmx drops a second request of an element that is still waiting.)
  var BUSY_FOR = 10000;
  function setBusy(form, button, busy) {
    if (busy) { form.dataset.busy = "1"; } else { delete form.dataset.busy; }
    if (!button) { return; }
    button.classList.toggle("is-busy", busy);
    if (busy) { button.setAttribute("aria-disabled", "true"); } else { button.removeAttribute("aria-disabled"); }
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) { return; }
    if ((form.method || "").toLowerCase() !== "post" || form.target === "_blank") { return; }
    if (form.dataset.busy) { event.preventDefault(); return; }
    var button = event.submitter || form.querySelector("[type=submit]");
    setBusy(form, button, true);
    window.setTimeout(function () { setBusy(form, button, false); }, BUSY_FOR);
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      setBusy(form, form.querySelector(".is-busy"), false);
    });
  });

  // The phone menu: a disclosure button (aria-expanded) that shows and hides the menu;
  // Escape closes it and puts focus back on the button.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".menu-toggle");
    if (!toggle) { return; }
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (menu) { menu.classList.toggle("is-open", open); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var toggle = document.querySelector('.menu-toggle[aria-expanded="true"]');
    if (!toggle) { return; }
    toggle.setAttribute("aria-expanded", "false");
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    if (menu) { menu.classList.remove("is-open"); }
    toggle.focus();
  });

  // An error card in answer to an htmx request (a server fault, an expired session) never
  // takes the place of what the user was working on: not after an action (a comment being
  // posted, a step's timeline with a reason just typed, an invitation's row), and not where
  // a part of the page would be replaced (the matrix). That part stays as it was, typed text
  // included, and the card's words show right next to the button that was used. A panel
  // being opened (history, comments) still shows the card inside the panel. (The worksheet
  // script handles its own fields first.)
  function isGet(detail) {
    return String((detail.requestConfig || {}).verb || "get").toLowerCase() === "get";
  }

  function clearActionErrors() {
    Array.prototype.forEach.call(document.querySelectorAll(".action-error"), function (n) { n.remove(); });
  }

  function cardText(card) {
    var title = card.querySelector("h1");
    var message = card.querySelector("h1 + p");
    return [title && title.textContent.trim(), message && message.textContent.trim()]
      .filter(Boolean).join(". ").replace(/\.\./g, ".");
  }

  function showActionError(from, text) {
    clearActionErrors();
    var note = document.createElement("div");
    note.className = "flash flash--error action-error";
    note.setAttribute("role", "alert");
    var icon = document.createElement("span");
    icon.className = "flash__icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = "!";
    note.appendChild(icon);
    note.appendChild(document.createTextNode(" " + text));
    var cell = from.closest("td, th");
    var block = from.closest("form, .inline-actions");
    if (cell) { cell.appendChild(note); }
    else if (block) { block.insertAdjacentElement("afterend", note); }
    else { from.insertAdjacentElement("afterend", note); }
    note.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var target = detail.target;
    if (!detail.isError || !detail.shouldSwap || !target || !window.DOMParser) { return; }
    var doc = new DOMParser().parseFromString(detail.serverResponse || "", "text/html");
    var card = doc.querySelector(".error-page");
    if (!card || (target.id && doc.getElementById(target.id))) { return; }
    var config = detail.requestConfig || {};
    var from = config.elt && config.elt.closest ? config.elt : target;
    var swapping = from.closest("[hx-swap]");
    var swap = detail.swapOverride || (swapping ? swapping.getAttribute("hx-swap") : "") || "innerHTML";
    var replaces = swap.indexOf("outerHTML") === 0 || target.tagName === "TR" || target.tagName === "TBODY";
    if (isGet(detail) && !replaces) { return; }
    detail.shouldSwap = false;
    showActionError(from, cardText(card));
  });

  // No answer at all (no connection): the same place says so; nothing was changed.
  document.addEventListener("htmx:sendError", function (event) {
    var detail = event.detail;
    var target = detail.target;
    if (target && target.classList && target.classList.contains("field-area")) { return; }  // the worksheet's
    var config = detail.requestConfig || {};
    var from = config.elt && config.elt.closest ? config.elt : target;
    var text = document.body.getAttribute("data-send-error");
    if (from && text && from.closest && !from.closest("#changes")) { showActionError(from, text); }
  });

  // The next action that works takes an earlier failure's words away (not a poll: the
  // worksheet's change feed asks every few seconds).
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && !isGet(event.detail)) { clearActionErrors(); }
  });

  // A table wider than its box scrolls sideways inside it (a phone): the box then takes
  // the keyboard focus, so arrow keys can scroll it, and is named after its table (its
  // caption, else the section's heading). Boxes that fit get no extra tab stop.
  var SCROLLERS = ".table-wrap, .plan-table-wrap";
  function nameOf(wrap) {
    var caption = wrap.querySelector("caption");
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    var section = wrap.closest("section, .card, main");
    var heading = section ? section.querySelector("h1, h2, h3") : null;
    return heading ? heading.textContent.trim() : "";
  }
  function markScrollers() {
    document.querySelectorAll(SCROLLERS).forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("data-scroll-marked", "");
        if (!wrap.hasAttribute("role")) { wrap.setAttribute("role", "region"); }
        if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
          var name = nameOf(wrap);
          if (name) { wrap.setAttribute("aria-label", name); }
        }
      } else if (!scrolls && wrap.hasAttribute("data-scroll-marked")) {
        ["tabindex", "data-scroll-marked", "role", "aria-label"].forEach(function (a) { wrap.removeAttribute(a); });
      }
      cue(wrap, scrolls);
    });
  }
  // The box's own shadows lie under the table's cells, which paint over them; so a box
  // that scrolls gets a frame whose edges shade the side with more columns, and a short
  // hint above it ("Veeg opzij ..."). A box that fits shows neither.
  function cue(wrap, scrolls) {
    var frame = wrap.parentNode;
    if (!frame) { return; }
    if (!frame.classList.contains("scroll-frame")) {
      if (!scrolls) { return; }
      frame = document.createElement("div");
      frame.className = "scroll-frame";
      var hint = document.createElement("p");
      hint.className = "scroll-hint";
      hint.setAttribute("aria-hidden", "true");  // the box itself is named and reachable with Tab
      hint.textContent = document.body.getAttribute("data-scroll-hint") || "";
      wrap.parentNode.insertBefore(hint, wrap);
      wrap.parentNode.insertBefore(frame, wrap);
      frame.appendChild(wrap);
    }
    var hintEl = frame.previousElementSibling;
    if (hintEl && hintEl.classList.contains("scroll-hint")) { hintEl.hidden = !scrolls; }
    edges(wrap, scrolls);
  }
  function edges(wrap, scrolls) {
    var frame = wrap.parentNode;
    if (!frame || !frame.classList.contains("scroll-frame")) { return; }
    frame.classList.toggle("more-left", scrolls && wrap.scrollLeft > 1);
    frame.classList.toggle("more-right", scrolls && wrap.scrollLeft + wrap.clientWidth < wrap.scrollWidth - 1);
  }
  document.addEventListener("scroll", function (event) {
    var wrap = event.target;
    if (wrap && wrap.matches && wrap.matches(SCROLLERS)) { edges(wrap, wrap.scrollWidth > wrap.clientWidth + 1); }
  }, true);
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(markScrollers, 150);
  });
  document.addEventListener("htmx:afterSettle", markScrollers);
  document.addEventListener("DOMContentLoaded", markScrollers);

  // On a phone the worksheet's sticky bar stays small: its notes fold behind their short
  // summary (one tap opens them). Wider screens and pages without script show them open.
  var NARROW = window.matchMedia("(max-width: 40rem)");
  function foldOnPhones(root) {
    if (!NARROW.matches || !root.querySelectorAll) { return; }
    root.querySelectorAll("details[data-fold-narrow][open]").forEach(function (d) { d.open = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { foldOnPhones(document); });
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.parentNode) { foldOnPhones(elt.parentNode); }
  });

  // Move focus to the error summary so keyboard and screen-reader users hear it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
