"""Read a rendered page as a browser does, and build the form data set it would send.

The page is parsed with html5lib (the WHATWG parsing algorithm, so a run-together
attribute such as ``checkedhx-post`` is an unknown attribute, not ``checked``, and a
newline right after ``<textarea>`` is dropped). The entry list follows the HTML
standard's "constructing the entry list": enabled, named controls of the form; checked
checkboxes and radio buttons only (value "on" when they have none); the selected
options of a select (or its first option when none is selected); the value of text
inputs with newlines stripped; a textarea's text; and at the end every newline
normalised to CRLF, as browsers send it.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

import html5lib
from werkzeug.datastructures import MultiDict

NS = "{http://www.w3.org/1999/xhtml}"
SKIP_INPUT_TYPES = {"submit", "button", "image", "reset", "file"}
_NEWLINES = re.compile(r"\r\n|\r|\n")


def parse(html: str) -> Element:
    return html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=True)


def _tag(el: Element) -> str:
    return el.tag.removeprefix(NS) if isinstance(el.tag, str) else ""


def _text(el: Element) -> str:
    return "".join(el.itertext())


def _parents(root: Element) -> dict[Element, Element]:
    return {child: parent for parent in root.iter() for child in parent}


def _disabled(el: Element, parents: dict[Element, Element]) -> bool:
    """Disabled itself, or inside a disabled fieldset (but not its first legend)."""
    if el.get("disabled") is not None:
        return True
    child, node = el, parents.get(el)
    while node is not None:
        if _tag(node) == "fieldset" and node.get("disabled") is not None:
            first_legend = next((c for c in node if _tag(c) == "legend"), None)
            if first_legend is not child:
                return True
        child, node = node, parents.get(node)
    return False


def _date_value(value: str) -> str:
    """The value sanitisation of <input type=date>: a valid date string or nothing."""
    match = re.fullmatch(r"(\d{4,})-(\d{2})-(\d{2})", value)
    if not match:
        return ""
    import datetime as dt

    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return ""
    return value


def entries(root: Element, form_id: str) -> list[tuple[str, str]]:
    """The entry list of the form with ``form_id``, in tree order."""
    form = next((el for el in root.iter(f"{NS}form") if el.get("id") == form_id), None)
    if form is None:
        raise AssertionError(f"no <form id={form_id!r}> on the page")
    parents = _parents(root)
    result: list[tuple[str, str]] = []
    controls = [el for el in root.iter() if _tag(el) in ("input", "select", "textarea", "button")]
    for el in controls:
        owner = el.get("form")
        if owner is not None:
            if owner != form_id:
                continue
        elif not _inside(el, form, parents):
            continue
        name = el.get("name")
        tag = _tag(el)
        if not name or tag == "button" or _disabled(el, parents):
            continue
        if tag == "input":
            kind = (el.get("type") or "text").lower()
            if kind in SKIP_INPUT_TYPES:
                continue
            if kind in ("checkbox", "radio"):
                if el.get("checked") is not None:
                    result.append((name, el.get("value") if el.get("value") is not None else "on"))
                continue
            value = el.get("value") or ""
            if kind in ("text", "search", "tel", "url", "email", "password", "hidden"):
                if kind != "hidden":
                    value = value.replace("\r", "").replace("\n", "")
            elif kind == "date":
                value = _date_value(value)
            result.append((name, value))
        elif tag == "select":
            options = [o for o in el.iter(f"{NS}option")]
            chosen = [o for o in options if o.get("selected") is not None]
            if not chosen and el.get("multiple") is None and options:
                chosen = [next((o for o in options if o.get("disabled") is None), options[0])]
            if el.get("multiple") is None:
                chosen = chosen[-1:]
            for o in chosen:
                result.append((name, o.get("value") if o.get("value") is not None else _text(o)))
        elif tag == "textarea":
            result.append((name, _text(el)))
    return [(_NEWLINES.sub("\r\n", n), _NEWLINES.sub("\r\n", v)) for n, v in result]


def _inside(el: Element, ancestor: Element, parents: dict[Element, Element]) -> bool:
    node = parents.get(el)
    while node is not None:
        if node is ancestor:
            return True
        node = parents.get(node)
    return False


def form_data(html: str, form_id: str) -> MultiDict:
    """The form data set as a MultiDict, like ``request.form`` on the server."""
    return MultiDict(entries(parse(html), form_id))


def by_id(html: str, element_id: str) -> Element | None:
    return next((el for el in parse(html).iter() if el.get("id") == element_id), None)


def text_of(html: str) -> str:
    """The page's text as a reader sees it (script and style left out), whitespace collapsed."""
    root = parse(html)
    for parent in list(root.iter()):
        for child in list(parent):
            if _tag(child) in ("script", "style", "template"):
                parent.remove(child)
    return " ".join(_text(root).split())
