"""Rendering HTML (the plan, the region's yearly report) to PDF with WeasyPrint, from local files only.

The document never fetches anything over the network: the stylesheet is read from
the static folder and every other URL is refused, so a PDF renders the same offline
and user text can never make the server request a URL. Fonts come from the system
(Debian's fonts-dejavu-core), not from the web.

Every PDF is PDF/UA-1 (tagged, with language and title), so screen readers can read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

STYLESHEET = "css/plan.css"


def _fetcher(root: Path) -> Any:
    """A WeasyPrint URL fetcher that only reads files below ``root``."""
    from weasyprint.urls import URLFetcher

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme != "file":
                raise ValueError(f"refused to fetch {url!r}: only local static files")
            path = Path(url2pathname(parts.path)).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"refused to fetch {url!r}: outside the static folder")
            return super().fetch(url, headers)

    return StaticOnlyFetcher(allowed_protocols=("file",))


def render_pdf(html: str, static_folder: str, stylesheet_path: str = STYLESHEET) -> bytes:
    """The PDF for ``html`` with one stylesheet of the static folder; relative URLs resolve inside it."""
    # Imported here: WeasyPrint loads Pango at import, which only the PDF route needs.
    from weasyprint import CSS, HTML

    root = Path(static_folder).resolve()
    fetcher = _fetcher(root)
    stylesheet = CSS(filename=str(root / stylesheet_path), url_fetcher=fetcher)
    document = HTML(string=html, base_url=str(root) + "/", url_fetcher=fetcher)
    # PDF/UA-1: a tagged PDF (structure tree, MarkInfo) whose viewer shows the title;
    # the language comes from <html lang> and the title from <title>.
    return document.write_pdf(stylesheets=[stylesheet], pdf_variant="pdf/ua-1")
