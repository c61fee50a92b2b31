"""reports/<ref>/ro-crate-metadata.json: the run's provenance as an RO-Crate (Workflow Run Crate profile), so a
tool that knows nothing of foikit can read what was run, on what, by whom, when, and what came out.

The crate holds the run's start and end times and the user who ran it: those differ between identical runs,
so the crate is not a published file and is not compared when a run reproduces a report. Everything else in it
is a function of the inputs and the published files. The manifest lists it, so the signature covers it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from rocrate.model import ContextEntity, Person
from rocrate.rocrate import ROCrate

from foikit.layout import CRATE
from foikit.source.files import sha256_file

PROFILES = {  # Workflow Run Crate 0.5 requires the crate to conform to all three
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
WORKFLOW = "#template"
ACTION = "#run"


def write_crate(folder: Path, *, ref: str, inputs: dict[str, Any], results: list[str], objects: list[str],
                started: str, ended: str, user: str) -> Path:
    """Write ``folder/ro-crate-metadata.json`` describing the run: the template as the workflow (identified by
    its recorded path and sha256; it is not stored in the report), ``objects`` (files in ``folder``: params,
    dictionary, extract, ledger) as the action's objects and ``results`` (the published files) as its results,
    each with its sha256; the run as a CreateAction by ``user`` from ``started`` to ``ended`` (ISO times)."""
    crate = ROCrate()
    crate.root_dataset["name"] = f"foikit response {ref}"
    crate.root_dataset["datePublished"] = ended  # the library's default is the time of writing
    crate.root_dataset["conformsTo"] = [{"@id": p} for p in PROFILES]
    for url, name in PROFILES.items():
        crate.add(ContextEntity(crate, url, properties={"@type": "CreativeWork", "name": name,
                                                        "version": url.rsplit("/", 1)[1]}))
    lang = crate.add(ContextEntity(crate, "#jupyter-notebook", properties={
        "@type": "ComputerLanguage", "name": "Jupyter Notebook", "url": "https://jupyter.org"}))
    template = inputs["template"]
    workflow = crate.add(ContextEntity(crate, WORKFLOW, properties={
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"], "name": template["path"],
        "description": "the foikit template the run executed (not stored in the report; found by its sha256)",
        "sha256": template["sha256"], "programmingLanguage": lang}))
    crate.mainEntity = workflow

    def file(name: str, role: str) -> Any:
        return crate.add_file(None, name, properties={"name": name, "description": role,
                                                      "sha256": sha256_file(folder / name)})

    objects_ = [file(n, "input") for n in objects]
    if inputs["data"]["snapshot"] is None:  # --no-snapshot: the extract is known only by its content hash
        objects_.append(crate.add(ContextEntity(crate, "#input-extract", properties={
            "@type": "PropertyValue", "name": "input extract (not stored: --no-snapshot)",
            "value": inputs["data"]["extract_sha256"], "description": "content sha256 of the extract"})))
    results_ = [file(n, "published file") for n in results]
    agent = crate.add(Person(crate, "#operator", properties={"name": user}))
    crate.add_action(workflow, identifier=ACTION, object=objects_, result=results_, properties={
        "name": f"foikit run {ref}", "agent": agent, "startTime": started, "endTime": ended})
    path = folder / CRATE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body = crate.metadata.generate()
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
