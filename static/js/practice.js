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

})();
