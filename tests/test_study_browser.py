"""The study app in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright's Python package)
against `melt-study serve` in a fresh copy of the repository after `dvc repro`.

A participant answers every question (reloading mid-way and resuming), a reviewer decides five items (one note
holds HTML and script); then `dvc repro` re-runs `study_report` and `review_apply`, and the database,
`metrics/study.json` and `data/melt_reviewed` must match the clicks exactly.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_repo, run
from study_helpers import ServedProcess, wilson_by_hand

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
NOTE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & "quotes"'

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh clone after `dvc repro` of the study stages: no database yet, so a report of 0 answers."""
    repo = copy_repo(tmp_path_factory.mktemp("study-repo"))
    for leftover in ("metrics/study.json", "reports"):   # outputs copied from the working tree, if any
        path = repo / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    run(["dvc", "repro", "study_set", "study_report", "review_apply"], repo)
    return repo


def test_fresh_clone_reports_zero_answers(repo):
    assert not (repo / "study" / "melt-study.db").exists()
    metrics = json.loads((repo / "metrics" / "study.json").read_text())
    assert metrics == {"overall": {"prefer_melt": None, "ci_low": None, "ci_high": None, "answers": 0,
                                   "participants": 0, "attention_failures": 0}, "by_emotion": {}}
    for split in ("train", "dev", "test"):
        reviewed = _csv(repo / "data" / "melt_reviewed" / f"{split}.csv")
        melt = _csv(repo / "data" / "melt" / f"{split}.csv")
        assert (reviewed["final_label"] == melt["llm_label"]).all() and (reviewed["label_source"] == "llm").all()


def _answer_current(page, items: pd.DataFrame, clicks: list[dict]) -> None:
    section = page.locator("#question")
    qid = section.get_attribute("data-question-id")
    item = items.loc[qid]
    options = page.locator("#options .option")
    assert options.nth(0).is_disabled() and options.nth(1).is_disabled()   # not before the clip was played
    labels = [options.nth(i).text_content() for i in range(2)]
    assert sorted(labels) == sorted([item["option_1"], item["option_2"]])
    assert page.text_content("#text") == item["Utterance"]
    page.click("#play")
    page.wait_for_selector("#options .option:not([disabled])", timeout=30_000)
    if item["kind"] == "attention":
        choice = item["option_1"]                 # the correct one: this participant pays attention
    else:
        choice = labels[len(clicks) % 2]          # alternate left/right
    before = page.text_content("#progress")
    page.click(f"#options .option[data-choice='{choice}']")
    page.wait_for_function("before => document.getElementById('progress').textContent !== before", arg=before)
    clicks.append({"question_id": qid, "choice": choice, "kind": item["kind"], "meld": item["meld_label"],
                   "melt": item["melt_label"]})


def _decide(page, item_id: str, source: str, label: str = "", note: str = "") -> None:
    li = page.locator(f"li.item[data-item-id='{item_id}']")
    li.locator(f"input[name=source][value={source}]").check()
    if label:
        li.locator("input[name=label]").fill(label)
    if note:
        li.locator("textarea[name=note]").fill(note)
    li.locator("button[type=submit]").click()
    li.locator(".saved").filter(has_text="Saved.").wait_for()


def test_participant_and_reviewer_clicks_reach_the_database_metrics_and_reviewed_csvs(repo):
    from playwright.sync_api import sync_playwright

    items = _csv(repo / "data" / "study" / "items.csv").set_index("item_id")
    queue = _csv(repo / "data" / "study" / "review_queue.csv").set_index("item_id")
    server = ServedProcess(repo, "serve", "--questions", "4", "--attention", "1")
    reviewer_token = run(["melt-study", "reviewer", "add", "alice"], repo).stdout.strip()
    clicks: list[dict] = []
    decided: dict[str, tuple[str, str]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            errors: list[str] = []

            # --- participant -----------------------------------------------------------------------------
            page = browser.new_context().new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.click("#start")                                   # without consent: refused, stays here
            assert "consent" in page.text_content("#error")
            page.select_option("#gender", "female")
            page.select_option("#headphones", "yes")
            page.check("#consent")
            page.click("#start")
            page.wait_for_url("**/study")
            page.wait_for_selector("#question:not([hidden])")
            assert page.text_content("#progress") == "Question 1 of 5"
            for _ in range(2):
                _answer_current(page, items, clicks)
            page.reload()                                          # stop and come back: resumes at question 3
            page.wait_for_selector("#question:not([hidden])")
            assert page.text_content("#progress") == "Question 3 of 5"
            assert page.locator("#question").get_attribute("data-question-id") not in {c["question_id"] for c in clicks}
            while page.locator("#done").is_hidden():
                _answer_current(page, items, clicks)
            assert page.text_content("#progress") == "Done: 5 of 5 answered."
            session = json.loads(page.evaluate("localStorage.getItem('melt-study-participant')"))
            page.goto(server.url + "/")
            assert page.locator("#resume").is_visible()

            # --- reviewer --------------------------------------------------------------------------------
            review = browser.new_context().new_page()
            review.on("pageerror", lambda e: errors.append(str(e)))
            review.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
            review.goto(server.url + "/review")
            review.fill("#token", "wrong-token")
            review.click("#login button")
            review.wait_for_selector("#error:not([hidden])")
            review.fill("#token", reviewer_token)
            review.click("#login button")
            review.wait_for_selector("li.item")
            shown = review.locator("li.item").evaluate_all("els => els.map(e => e.dataset.itemId)")
            assert shown == list(queue.index[:20])                 # least certain first, 20 per page
            plan = [("llm", "", ""), ("meld", "", ""), ("reviewer", "Frustration", NOTE), ("llm", "", "checked"),
                    ("meld", "", "")]
            for item_id, (source, label, note) in zip(shown, plan):
                _decide(review, item_id, source, label, note)
                row = queue.loc[item_id]
                decided[item_id] = {"llm": (row["llm_label"], "llm"), "meld": (row["meld_label"], "meld"),
                                    "reviewer": ("frustration", "reviewer")}[source]
            review.reload()                                        # the token survives a reload (sessionStorage)
            review.select_option("#filter", "decided")
            review.wait_for_function("() => document.querySelectorAll('li.item').length === 5")
            note_item = review.locator(f"li.item[data-item-id='{shown[2]}'] .decision")
            assert note_item.text_content().endswith("Note: " + NOTE)          # shown as text, not markup
            assert note_item.locator("img, script").count() == 0
            assert review.evaluate("window.__xss") is None
            assert not errors, errors
            browser.close()
    finally:
        log = server.stop()
    assert session["token"] not in log and reviewer_token not in log

    # --- the database holds exactly the clicks ----------------------------------------------------------------
    with sqlite3.connect(repo / "study" / "melt-study.db") as con:
        answers = set(con.execute("SELECT item_id, choice FROM answers"))
        people = con.execute("SELECT gender, headphones, completed_at IS NOT NULL FROM participants").fetchall()
        decisions = {r[0]: r[1:] for r in con.execute(
            "SELECT item_id, final_label, label_source, reviewer, note, reviewed_at FROM decisions")}
    assert answers == {(c["question_id"], c["choice"]) for c in clicks}
    assert people == [("female", "yes", 1)]
    assert {k: v[:3] for k, v in decisions.items()} == {k: (*v, "alice") for k, v in decided.items()}
    assert decisions[shown[2]][3] == NOTE

    # --- dvc repro picks the new answers up: metrics and reviewed CSVs follow the clicks ------------------------
    out = run(["dvc", "repro", "study_report", "review_apply"], repo).stdout
    assert "Running stage 'study_report'" in out and "Running stage 'review_apply'" in out
    pref = [c for c in clicks if c["kind"] == "preference"]
    k = sum(c["choice"] == c["melt"] for c in pref)
    low, high = wilson_by_hand(k, len(pref))
    metrics = json.loads((repo / "metrics" / "study.json").read_text())
    assert metrics["overall"] == {"prefer_melt": round(k / len(pref), 4), "ci_low": round(low, 4),
                                  "ci_high": round(high, 4), "answers": 4, "participants": 1,
                                  "attention_failures": 0}
    by_emotion = {}
    for c in pref:
        by_emotion.setdefault(c["meld"], []).append(c["choice"] == c["melt"])
    assert set(metrics["by_emotion"]) == set(by_emotion)
    for emotion, hits in by_emotion.items():
        assert metrics["by_emotion"][emotion]["answers"] == len(hits)
        assert metrics["by_emotion"][emotion]["prefer_melt"] == round(sum(hits) / len(hits), 4)

    for split in ("train", "dev", "test"):
        reviewed = _csv(repo / "data" / "melt_reviewed" / f"{split}.csv")
        for row in reviewed.to_dict("records"):
            match = queue[(queue["split"] == split) & (queue["dialogue_id"] == row["dialogue_id"])
                          & (queue["utterance_id"] == row["utterance_id"])]
            iid = match.index[0] if len(match) else None
            if iid in decided:
                assert (row["final_label"], row["label_source"], row["reviewer"], row["reviewed_at"]) == (
                    *decided[iid], "alice", decisions[iid][4])
            else:
                assert (row["final_label"], row["label_source"], row["reviewer"]) == (row["llm_label"], "llm", "")
    assert sum((_csv(repo / "data" / "melt_reviewed" / f"{s}.csv")["reviewer"] == "alice").sum()
               for s in ("train", "dev", "test")) == 5


def _study_metrics(obj):
    """Every metrics/study.json in `dvc exp show --json` output."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "metrics/study.json":
                yield value["data"]
            else:
                yield from _study_metrics(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _study_metrics(value)


def test_a_temp_experiment_reads_the_repositorys_database(repo):
    """`dvc exp run --temp` works in a copy without the git-ignored database; study.db resolves through
    $DVC_ROOT to the repository's, so the experiment reports the answers collected there."""
    from melt.study.catalog import load_catalog
    from melt.study.store import StudyStore

    store = StudyStore(repo / "study" / "melt-study.db")
    catalog = load_catalog(repo / "data" / "study", repo)
    for _ in range(3):
        pid, _token = store.create_participant({}, catalog.preference, catalog.attention, 6, 1)
        for q in store.questions(pid):
            store.record_answer(pid, q["item_id"], q["option_a"], None)
    expected = sum(a["kind"] == "preference" for a in store.answers())
    run(["dvc", "exp", "run", "--temp", "-S", "study.max_attention_failures=1", "study_report"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    answers = [m["overall"]["answers"] for m in _study_metrics(shown)]
    assert expected >= 18 and expected in answers, answers
