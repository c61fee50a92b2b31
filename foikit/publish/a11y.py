"""What a reader of the HTML outputs needs beyond what pandas and nbconvert write (WCAG 2.2 AA, 1.3.1): every
table header says whether it heads a column or a row."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def scoped_headers(html: str) -> str:
    """``html`` with a ``scope`` on each ``<th>`` that has none: in a ``<thead>`` it heads its column (or, spanning
    several, their group); elsewhere its row (or rows). Nothing else changes, and the same input gives the same
    output."""
    def spans(th: Tag, attribute: str) -> bool:
        return str(th.get(attribute) or "1").strip() not in ("", "1")

    soup = BeautifulSoup(html, "html.parser")
    for th in soup.find_all("th"):
        if th.has_attr("scope"):
            continue
        if th.find_parent("thead") is not None:
            th["scope"] = "colgroup" if spans(th, "colspan") else "col"
        else:
            th["scope"] = "rowgroup" if spans(th, "rowspan") else "row"
    return str(soup)
