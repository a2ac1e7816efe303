/* Small progressive enhancements; the pages work without them. */
(function () {
  "use strict";

  // Lets CSS show JavaScript-only controls and hide their no-JavaScript fallbacks.
  document.documentElement.classList.add("js");

  // Buttons that close a panel: <button data-close="#selector">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-close]");
    if (button) {
      var panel = document.querySelector(button.dataset.close);
      if (panel) { panel.innerHTML = ""; }
    }
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

  // Move focus to the error summary so keyboard and screen-reader users hear it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
