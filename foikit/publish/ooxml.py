"""Deterministic Office Open XML (XLSX, DOCX): the same content always gives the same bytes."""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
FIXED_STAMP = b"2000-01-01T00:00:00Z"


def normalise_package(data: bytes) -> bytes:
    """Rewrite an OOXML zip with fixed timestamps, canonical XML and no save-time stamps."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # writers stamp the save time here whatever the document says
                content = re.sub(rb"(<dcterms:(?:modified|created)[^>]*>)[^<]*", rb"\g<1>" + FIXED_STAMP, content)
            if info.filename.endswith((".xml", ".rels")):
                # lxml and ElementTree serialise differently: canonical XML is the same from both
                content = _XML_DECLARATION + ElementTree.canonicalize(content.decode("utf-8")).encode("utf-8")
            dst.writestr(fixed, content)
    return out.getvalue()
