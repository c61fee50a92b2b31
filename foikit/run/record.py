"""The audit record: the executed notebook, normalised so equal inputs give equal files, and its HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from foikit.publish.a11y import scoped_headers

TEMPLATES = Path(__file__).parents[1] / "templates" / "nbconvert"

# papermill metadata that differs between two runs of the same inputs (times, temporary paths).
_VOLATILE_RUN_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")
_VOLATILE_CELL_KEYS = ("papermill", "execution", "collapsed", "scrolled")


def normalise_notebook(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """Drop timings and temporary paths, fix cell ids and the title: the same run gives the same notebook."""
    run = nb.metadata.get("papermill", {})
    for key in _VOLATILE_RUN_KEYS:
        run.pop(key, None)
    nb.metadata["title"] = title
    for i, cell in enumerate(nb.cells):
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
        elif not cell.get("id"):
            cell["id"] = f"cell-{i}"
    return nb


def export_html(nb: nbformat.NotebookNode, path: Path, title: str,
                provenance: list[tuple[str, str]] | None = None) -> Path:
    """HTML with the code shown, no script loaded from the network (renders offline), and the run's
    provenance (inputs' hashes, versions, policy) in a block at the top."""
    exporter = HTMLExporter(
        template_name="foikit_html",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=False,
    )
    resources = {"metadata": {"name": title}, "foikit_provenance": provenance or []}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    path.write_text(scoped_headers(body), encoding="utf-8")
    return path


def refresh_template(path: str | Path) -> None:
    """Re-execute a template with its defaults and store its outputs (what nbval checks), normalised."""
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(Path.cwd())}}).execute()
    nbformat.write(normalise_notebook(nb, title=nb.metadata.get("title", path.stem)), path)


if __name__ == "__main__":  # python -m foikit.run.record notebooks/<template>.ipynb ...
    import sys

    for arg in sys.argv[1:]:
        refresh_template(arg)
        print(f"refreshed {arg}")
