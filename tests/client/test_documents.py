"""Documents: reading YAML/JSON files, telling an experiment from a sweep, content keys (pure)."""

import json
import math
from pathlib import Path

import pytest

from devtools.processes import ROOT
from lrlab_client import SpecError, content_key, detect_kind, load_document


def test_shape_detection() -> None:
    assert detect_kind({"scheduler": {"type": "constant"}}) == "experiment"
    assert detect_kind({"schedulers": [{"type": "constant"}]}) == "sweep"
    assert detect_kind({"base": {}, "schedulers": []}) == "sweep"
    assert detect_kind({"base": {"training": {}}}) == "sweep"
    with pytest.raises(SpecError, match="neither an experiment"):
        detect_kind({"training": {"epochs": 1}})
    with pytest.raises(SpecError, match="mapping"):
        detect_kind([1, 2])  # type: ignore[arg-type]


def test_content_key_depends_on_content_only() -> None:
    a = {"scheduler": {"type": "step", "step_size": 2, "gamma": 0.5}, "name": "n"}
    b = {"name": "n", "scheduler": {"gamma": 0.5, "step_size": 2, "type": "step"}}
    assert content_key(a) == content_key(b)
    assert content_key(a).startswith("lrlab-cli-")
    assert content_key(a) != content_key({**a, "name": "m"})
    with pytest.raises(SpecError):
        content_key({"scheduler": {"type": "step", "gamma": math.nan}})


def test_yaml_exponents_are_numbers(tmp_path: Path) -> None:
    spec = tmp_path / "e.yaml"
    spec.write_text("scheduler: {type: cosine, t_max: 3, eta_min: 1e-4}\n")
    assert load_document(spec)["scheduler"]["eta_min"] == pytest.approx(1e-4)


def test_examples_are_valid_documents() -> None:
    examples = ROOT / "examples"
    assert detect_kind(load_document(examples / "seed-comparison.yaml")) == "sweep"
    assert detect_kind(load_document(examples / "quick-sweep.yaml")) == "sweep"
    assert detect_kind(load_document(examples / "experiment.json")) == "experiment"
    seed = load_document(examples / "seed-comparison.yaml")
    assert [s["type"] for s in seed["schedulers"]] == [
        "constant",
        "step",
        "exponential",
        "cosine",
        "plateau",
        "cyclic",
    ]
    assert seed["base"]["training"]["epochs"] == 100
    assert seed["base"]["dataset"]["train_samples"] == 10_000


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"scheduler": ', "is not valid JSON: Expecting value (line 1, column 15)"),
        ("bad.yaml", "a: [1\n", "is not valid YAML: "),
        ("list.yaml", "- 1\n- 2\n", "must hold a mapping (an object), got list"),
        ("empty.yaml", "", "must hold a mapping (an object), got nothing"),
    ],
)
def test_unreadable_documents_are_one_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_document(path)
    assert str(raised.value).startswith(f"{path} ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_file_directory_and_binary(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_document(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a directory, not a file"):
        load_document(tmp_path)
    binary = tmp_path / "spec.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="not a UTF-8 text file"):
        load_document(binary)


def test_json_suffix_is_json(tmp_path: Path) -> None:
    path = tmp_path / "spec.JSON"
    path.write_text(json.dumps({"scheduler": {"type": "constant"}}))
    assert load_document(path) == {"scheduler": {"type": "constant"}}


def test_range_test_examples_are_valid_documents() -> None:
    examples = ROOT / "examples"
    assert load_document(examples / "lr-find.yaml")["num_iter"] == 100
    seeded = load_document(examples / "seeded-sweep.yaml")
    assert detect_kind(seeded) == "sweep"
    assert seeded["base"]["training"]["learning_rate"]["from_range_test"] == "RANGE_TEST_ID"
