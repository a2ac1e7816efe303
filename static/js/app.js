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

  // Move focus to the error summary so keyboard and screen-reader users hear it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
