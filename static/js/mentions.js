/* "@" and a name in a comment box: a list of the people who may see the step to choose from.
 *
 * The people are the thread's own "Stuur een e-mail aan" boxes (the server rendered exactly
 * those who may be named), so the list can never offer anyone else. Choosing a person puts
 * "@Full Name" in the text and ticks their box; the server also reads "@Full Name" in the
 * text. Without this script the boxes work as before.
 *
 * Keyboard (the ARIA combobox pattern on a text box): typing "@lo" opens a listbox of
 * matching names, Down/Up move through it (aria-activedescendant), Enter or Tab chooses,
 * Escape closes it. The number of names found is said politely; the focus stays in the box.
 */
(function () {
  "use strict";

  var MAX_SHOWN = 8;
  var QUERY = /(^|[^\w@])@([^\n@]{0,60})$/;   // "@" at a word start, then what is typed so far
  var open = null;   // {box, list, status, matches, active, start}

  function people(box) {
    var fieldset = document.getElementById(box.getAttribute("data-mentions"));
    if (!fieldset) { return []; }
    return Array.prototype.map.call(fieldset.querySelectorAll("input[type=checkbox][data-name]"), function (input) {
      return { name: input.getAttribute("data-name"), org: input.getAttribute("data-org") || "", input: input };
    });
  }

  function fold(text) { return text.toLocaleLowerCase("nl").replace(/\s+/g, " "); }

  function matching(box, query) {
    var q = fold(query);
    return people(box).filter(function (p) {
      var name = fold(p.name);
      if (name.indexOf(q) === 0) { return true; }
      return q.indexOf(" ") === -1 && name.split(" ").some(function (word) { return word.indexOf(q) === 0; });
    }).slice(0, MAX_SHOWN);
  }

  // The listbox and its status line, made once per box, right after it.
  function parts(box) {
    var id = box.id + "-people";
    var list = document.getElementById(id);
    if (!list) {
      list = document.createElement("ul");
      list.id = id;
      list.className = "mention-list";
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", box.getAttribute("data-mention-label") || "");
      list.hidden = true;
      var status = document.createElement("p");
      status.id = box.id + "-people-status";
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      box.insertAdjacentElement("afterend", status);
      box.insertAdjacentElement("afterend", list);
      list.addEventListener("mousedown", function (event) {
        var option = event.target.closest("[role=option]");
        if (!option || !open) { return; }
        event.preventDefault();   // the focus stays in the box
        choose(Number(option.getAttribute("data-index")));
      });
    }
    return { list: list, status: document.getElementById(box.id + "-people-status") };
  }

  // Tells the box what it offers; the hint says how, once per box.
  function prepare(box) {
    if (box.getAttribute("aria-autocomplete")) { return; }
    var p = parts(box);
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", p.list.id);
    var hint = document.createElement("p");
    hint.id = box.id + "-mention-hint";
    hint.className = "hint";
    hint.textContent = box.getAttribute("data-mention-hint") || "";
    p.status.insertAdjacentElement("afterend", hint);
    var described = box.getAttribute("aria-describedby");
    box.setAttribute("aria-describedby", (described ? described + " " : "") + hint.id);
  }

  function say(status, text) {
    if (!status) { return; }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 60);
  }

  function close() {
    if (!open) { return; }
    open.list.hidden = true;
    open.list.textContent = "";
    open.box.removeAttribute("aria-activedescendant");
    open = null;
  }

  function show(box, query, start) {
    var matches = matching(box, query);
    if (!matches.length) { close(); return; }
    var p = parts(box);
    var before = open && open.box === box ? open.matches.length : -1;
    p.list.textContent = "";
    matches.forEach(function (person, i) {
      var option = document.createElement("li");
      option.id = box.id + "-person-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("data-index", String(i));
      option.className = "mention-list__option";
      option.textContent = person.name;
      if (person.org) {
        var org = document.createElement("span");
        org.className = "muted";
        org.textContent = " (" + person.org + ")";
        option.appendChild(org);
      }
      p.list.appendChild(option);
    });
    p.list.hidden = false;
    open = { box: box, list: p.list, status: p.status, matches: matches, active: 0, start: start };
    mark();
    if (before !== matches.length) {
      say(p.status, matches.length === 1 ? box.getAttribute("data-mention-one") || "" :
        (box.getAttribute("data-mention-many") || "").split("%(n)s").join(String(matches.length)));
    }
  }

  function mark() {
    Array.prototype.forEach.call(open.list.children, function (option, i) {
      option.setAttribute("aria-selected", i === open.active ? "true" : "false");
      option.classList.toggle("is-active", i === open.active);
    });
    open.box.setAttribute("aria-activedescendant", open.box.id + "-person-" + open.active);
  }

  function choose(index) {
    var person = open.matches[index];
    var box = open.box;
    var status = open.status;
    var caret = box.selectionStart;
    var inserted = "@" + person.name + " ";
    box.value = box.value.slice(0, open.start) + inserted + box.value.slice(caret);
    var at = open.start + inserted.length;
    box.setSelectionRange(at, at);
    person.input.checked = true;
    close();
    say(status, (box.getAttribute("data-mention-chosen") || "").split("%(name)s").join(person.name));
  }

  function update(box) {
    var before = box.value.slice(0, box.selectionStart);
    var found = QUERY.exec(before);
    if (!found || box.selectionStart !== box.selectionEnd) { close(); return; }
    show(box, found[2], before.length - found[2].length - 1);
  }

  function mentionBox(target) {
    return target && target.matches && target.matches("textarea[data-mentions]") ? target : null;
  }

  document.addEventListener("focusin", function (event) {
    var box = mentionBox(event.target);
    if (box) { prepare(box); }
  });

  document.addEventListener("input", function (event) {
    var box = mentionBox(event.target);
    if (box) { prepare(box); update(box); }
  });

  document.addEventListener("keydown", function (event) {
    var box = mentionBox(event.target);
    if (!box || !open || open.box !== box) { return; }
    var count = open.matches.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      open.active = (open.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      mark();
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      choose(open.active);
    } else if (event.key === "Escape") {
      close();
      event.stopPropagation();
    } else {
      return;
    }
    event.preventDefault();
  });

  document.addEventListener("focusout", function (event) {
    if (mentionBox(event.target) && open && open.box === event.target) { close(); }
  });
  // The caret moved by a click or Home/End: the list follows what is before it.
  document.addEventListener("click", function (event) {
    var box = mentionBox(event.target);
    if (box && open && open.box === box) { update(box); }
  });
  // A thread redrawn by htmx takes its box along: a list left open for it is gone too.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (open && target && target.contains(open.box)) { close(); }
  });
})();
