"""Each parameter is documented once (its pydantic Field); docs/params.md and params.yaml are generated from it."""

from pathlib import Path

import yaml

from melt.config import Params, load_params, main
from melt.params_docs import default_yaml, markdown, undocumented

REPO = Path(__file__).resolve().parents[1]


def test_every_param_has_a_description():
    assert undocumented(Params) == []


def test_committed_reference_is_current():
    assert (REPO / "docs/params.md").read_text(encoding="utf-8") == markdown(Params), \
        "docs/params.md is stale: python -m melt.config --markdown > docs/params.md"


def test_params_yaml_holds_every_key_at_its_default():
    committed = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert committed == Params().model_dump(mode="json"), \
        "params.yaml differs from the models' defaults: python -m melt.config --yaml > params.yaml"
    assert load_params(REPO / "params.yaml") == Params()


def test_generated_yaml_round_trips(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(default_yaml(Params), encoding="utf-8")
    assert load_params(path) == Params()


def test_check_command_names_the_bad_key(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text("prepare:\n  min_words: many\n", encoding="utf-8")
    assert main(["--check", str(path)]) == 1
    assert "prepare.min_words" in capsys.readouterr().err


def test_stage_sections_list_matches_the_full_model():
    from melt.params_sections import SECTIONS

    assert SECTIONS == tuple(Params.model_fields)


def test_stage_loads_only_its_sections_and_names_the_bad_key(tmp_path):
    import pytest

    from melt.annotate.params import AnnotateParams
    from melt.params_base import stage_params

    path = tmp_path / "params.yaml"
    path.write_text("annotate:\n  aggregate: majority\nser:\n  lr: fast\n", encoding="utf-8")
    assert stage_params(path, annotate=AnnotateParams).annotate.aggregate == "majority"   # ser is another stage's
    path.write_text("annotate:\n  annotators:\n    llm:\n      samples: none\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="annotate.annotators.llm.samples"):
        stage_params(path, annotate=AnnotateParams)
    path.write_text("anotate:\n  samples: 3\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="unknown section.*anotate"):
        stage_params(path, annotate=AnnotateParams)
