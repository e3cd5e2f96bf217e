"""The user docs (README.md, docs/*.md, the examples) read right for someone with a fresh clone."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "schedulers.json"
# A commit id: 7 to 40 hex digits with at least one digit and one letter.
COMMIT = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def _lines() -> list[tuple[str, int, str]]:
    return [
        (doc.name, number, line)
        for doc in USER_DOCS
        for number, line in enumerate(doc.read_text().splitlines(), start=1)
    ]


def test_curl_examples_use_the_api_url_variable() -> None:
    fixed = [
        (doc, n, line)
        for doc, n, line in _lines()
        if line.lstrip().startswith("curl") and "$LRLAB_API_URL" not in line
    ]
    assert not fixed, fixed
    readme = (ROOT / "README.md").read_text()
    # Set before the first example that needs it.
    assert 0 <= readme.find("export LRLAB_API_URL=") < readme.find("\ncurl ")


def test_no_commit_ids_issue_numbers_or_this_machine_in_user_docs() -> None:
    found = [
        (doc, n, line)
        for doc, n, line in _lines()
        if COMMIT.search(line)
        or re.search(r"\bissues? #?\d+", line, re.I)
        or re.search(r"\bthis (two-core |2-core )?machine\b", line, re.I)
    ]
    assert not found, found


def test_the_sweep_read_is_described_by_its_field_names() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if 'sweeps/<id>"' in x and "# status" in x)
    assert "experiments" in line, line


def test_the_pytorch_version_claimed_is_the_conformance_files() -> None:
    if not CONFORMANCE.exists():
        pytest.skip(f"conformance file missing: {CONFORMANCE}")
    about = json.loads(CONFORMANCE.read_text())["about"]
    generated = re.search(r"PyTorch (\d+\.\d+)", about)
    assert generated, about
    claims = re.findall(r"PyTorch (\d+\.\d+)", (ROOT / "README.md").read_text())
    assert claims and set(claims) == {generated.group(1)}, claims


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in sorted((ROOT / "examples").glob("*.yaml"))
        # A sweep seeded from a range test names one by a placeholder id until the user runs it.
        if "\nschedulers:" in p.read_text() and "RANGE_TEST_ID" not in p.read_text()
    ],
    ids=lambda p: p.name,
)
def test_example_sweeps_are_valid_sweeps(path: Path) -> None:
    from lrlab_client.documents import load_document
    from models.sweeps import SweepCreate

    sweep = SweepCreate.model_validate(load_document(path))
    assert sweep.cells


def test_the_families_example_sweeps_two_models_by_three_optimizers() -> None:
    from lrlab_client.documents import load_document
    from models.sweeps import SweepCreate

    sweep = SweepCreate.model_validate(load_document(ROOT / "examples" / "families-sweep.yaml"))
    pairs = {(c.spec.model.type, c.spec.training.optimizer) for c in sweep.cells}
    assert len(pairs) == 6 and {m for m, _ in pairs} == {"mlp", "cnn"}
    assert all(c.spec.dataset.name == "fashion_mnist" for c in sweep.cells)
