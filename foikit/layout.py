"""What a report folder holds: the name of every file foikit writes into reports/<ref>/, in one place.

Each module that writes or reads one of these files imports its name from here, so the ledger, the manifest and
``foikit verify`` agree on the folder without importing the modules that write it.
"""

from __future__ import annotations

# published (what the letter sends, and what the ledger and an intruder read)
PUBLISHED_CSV = "published.csv"
TABLES_XLSX = "tables.xlsx"
TABLES_ODS = "tables.ods"  # the same tables in OpenDocument
AUDIT_JSON = "audit.json"
LETTER_HTML = "letter.html"
LETTER_DOCX = "letter.docx"
CELLS_JSON = "cells.json"  # the response's entry in the ledger: no true value of a withheld cell
WITNESSES_JSON = "witnesses.json"  # the audit's proof, found from the published figures only
# W3C CSV on the Web metadata of published.csv, found by the name the standard gives it (<csv>-metadata.json)
PUBLISHED_CSVW = f"{PUBLISHED_CSV}-metadata.json"
PUBLISHED_FILES = (PUBLISHED_CSV, PUBLISHED_CSVW, TABLES_XLSX, TABLES_ODS, AUDIT_JSON, LETTER_HTML, LETTER_DOCX,
                   CELLS_JSON, WITNESSES_JSON)

# the record (how each figure was made)
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"  # the Ed25519 signature over the manifest's bytes
PARAMS_COPY = "params.yaml"
DICTIONARY_COPY = "dictionary.yaml"
LEDGER_JSON = "ledger.json"  # the earlier responses this one was audited with
CRATE = "ro-crate-metadata.json"

# internal (holds unpublished counts)
NOTEBOOK = "notebook.ipynb"
REPORT_HTML = "report.html"
SNAPSHOT = "input.parquet"
INTERNAL = (NOTEBOOK, REPORT_HTML, SNAPSHOT)
