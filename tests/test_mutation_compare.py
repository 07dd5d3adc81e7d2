"""melt.analysis.compare.load_run on MELT-layout CSVs written by the test: the labels per split, the row numbers in
its error messages (the file's data rows, also when one file holds every split), the duplicate-key message, and
`compare_with` pointing at a folder of per-split CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from melt.analysis.compare import load_run
from melt.analysis.layout import MeltCsvError


def write(path: Path, rows: list[tuple], columns=("Dialogue_ID", "Utterance_ID", "llm_label", "split")) -> Path:
    """Only the columns load_run needs (no lower-case dialogue_id/utterance_id beside them)."""
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_one_file_with_every_split(tmp_path):
    src = write(tmp_path / "run.csv", [(1, 0, "Joy", "train"), (1, 1, "frustration", "train"), (4, 2, "anger", "dev"),
                                       (7, 0, "neutral", "test")])
    assert load_run(src, ("train", "dev", "test")) == {
        "train": {(1, 0): "joy", (1, 1): None}, "dev": {(4, 2): "anger"}, "test": {(7, 0): "neutral"}}
    assert load_run(src, ("dev",)) == {"dev": {(4, 2): "anger"}}


def test_row_numbers_in_csv_errors_are_the_files_data_rows(tmp_path):
    # data row 4 (line 5 of the file, after the header) is the second dev row: the split filter keeps the file's row
    src = write(tmp_path / "run.csv", [(1, 0, "joy", "train"), (2, 0, "joy", "dev"), (3, 0, "joy", "train"),
                                       ("x", 1, "joy", "dev")])
    with pytest.raises(MeltCsvError) as err:
        load_run(src, ("train", "dev"))
    assert str(err.value) == f"{src}: row 4: Dialogue_ID/Utterance_ID 'x'/'1' are not integers"


def test_duplicate_key_message_names_the_row_and_the_utterance(tmp_path):
    src = write(tmp_path / "run.csv", [(3, 5, "joy", "test"), (3, 6, "joy", "test"), (3, 5, "anger", "test")])
    with pytest.raises(MeltCsvError) as err:
        load_run(src, ("test",))
    assert str(err.value) == f"{src}: row 3: dia3_utt5 appears twice"


def test_a_folder_of_per_split_csvs(tmp_path):
    folder = tmp_path / "second"
    folder.mkdir()
    keys = ("Dialogue_ID", "Utterance_ID", "llm_label")
    write(folder / "train.csv", [(1, 0, "sadness"), (1, 2, "Surprise")], keys)
    write(folder / "test.csv", [(9, 9, "disgust")], keys)
    assert load_run(folder, ("train", "test")) == {"train": {(1, 0): "sadness", (1, 2): "surprise"},
                                                   "test": {(9, 9): "disgust"}}
    # the CSV's own rows are numbered in its errors
    write(folder / "dev.csv", [(1, 0, "joy"), (1, 0, "fear")], keys)
    with pytest.raises(MeltCsvError) as err:
        load_run(folder, ("dev",))
    assert str(err.value) == f"{folder / 'dev.csv'}: row 2: dia1_utt0 appears twice"
    # a split with neither file is an error naming both candidates
    with pytest.raises(FileNotFoundError) as err:
        load_run(folder, ("train", "val"))
    assert str(err.value) == f"analyze.compare_with: {folder} has neither val.jsonl nor val.csv"
    # a missing column of a per-split CSV is named (the split column is not needed there)
    write(folder / "dev.csv", [(1, 0)], ("Dialogue_ID", "Utterance_ID"))
    with pytest.raises(MeltCsvError, match="missing column"):
        load_run(folder, ("dev",))


def test_neither_file_nor_folder_and_missing_split_column(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_run(tmp_path / "nothing", ("train",))
    assert str(err.value) == f"analyze.compare_with: {tmp_path / 'nothing'} is neither a file nor a folder"
    src = write(tmp_path / "nosplit.csv", [(1, 0, "joy")], ("Dialogue_ID", "Utterance_ID", "llm_label"))
    with pytest.raises(MeltCsvError) as err:
        load_run(src, ("train",))
    assert str(err.value) == f"{src}: missing column(s) split"
