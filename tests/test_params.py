from pathlib import Path

import pytest

from melt.config import ParamsError, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_repository_params_validate():
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "demo"
    assert params.prepare.min_duration_s == 1.0
    assert params.prepare.min_words == 3
    assert params.prepare.min_speaker_utterances == 10
    assert set(params.prepare.exclude_speakers) == {"all", "guy", "the casting director", "the interviewer"}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"prepare": {"min_duraton_s": 1.0}}, "prepare.min_duraton_s: unknown key"),
        ({"colour": 1}, "colour: unknown key"),
        ({"prepare": {"min_words": -1}}, "prepare.min_words"),
        ({"prepare": {"min_duration_s": "long"}}, "prepare.min_duration_s"),
        ({"data": {"source": "friends"}}, "data.source"),
        ({"data": {"source": "meld"}}, "data.meld_dir is required"),
    ],
)
def test_bad_params_name_the_key(raw, message):
    with pytest.raises(ParamsError) as err:
        parse_params(raw, "params.yaml")
    assert message in str(err.value)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml: not valid YAML"):
        load_params(path)


def test_stage_stops_on_bad_params_with_the_key_and_no_traceback(tmp_path):
    import subprocess
    import sys

    (tmp_path / "params.yaml").write_text("prepare:\n  min_words: many\n")
    proc = subprocess.run([sys.executable, str(REPO / "stages/prepare.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "prepare.min_words" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()
