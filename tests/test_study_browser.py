"""The study app in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright's Python package)
against `melt-study serve` in a copy of the repository after `dvc repro` (the session's `reproduced` one).

A participant answers every question (reloading mid-way and resuming; clips come through signed media URLs and
the server checks the play time); a reviewer sees each utterance's preceding turns (and can play them), decides
five items with the keyboard only (one note holds HTML and script) and moves across a page boundary and back;
then `dvc repro` re-runs `study_report` and `review_apply`, and the database, `metrics/study.json` and
`data/melt_reviewed` must match the clicks exactly.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from conftest import run
from melt.study.keys import item_id
from study_helpers import ServedProcess

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
def repo(tmp_path_factory, reproduced) -> Path:
    """A private copy of the reproduced repository, its study reports made again: no database yet, so a report
    of 0 answers."""
    repo = tmp_path_factory.mktemp("study") / "repo"
    shutil.copytree(reproduced, repo, symlinks=True)
    for leftover in ("metrics/study.json", "reports/study"):
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


def _shown(page) -> str:
    return page.locator("#current article.item").get_attribute("data-item-id")


def _decide_by_keyboard(page, source: str, label: str = "", note: str = "") -> str:
    """Decide the item shown with keys only: 1/2/3 picks, typing fills the free label, `t` opens the note,
    Enter (Ctrl+Enter from the note) saves and moves on. Returns the id of the item decided."""
    decided, before = _shown(page), page.text_content("#position")
    page.keyboard.press({"llm": "1", "meld": "2", "reviewer": "3"}[source])
    if label:
        page.keyboard.type(label)            # `3` put the cursor in the free-label field
        page.keyboard.press("Escape")
    if note:
        page.keyboard.press("t")
        page.keyboard.type(note)
        page.keyboard.press("Control+Enter")
    else:
        page.keyboard.press("Enter")
    page.wait_for_function("([id, before]) => document.querySelector('#current article.item').dataset.itemId !== id"
                           " || document.getElementById('position').textContent !== before", arg=[decided, before])
    return decided


def _press_until(page, key: str, position: str) -> None:
    for _ in range(12):
        if page.text_content("#position") == position:
            return
        before = page.text_content("#position")
        page.keyboard.press(key)
        page.wait_for_function("before => document.getElementById('position').textContent !== before", arg=before)
    assert page.text_content("#position") == position


def test_participant_and_reviewer_clicks_reach_the_database_metrics_and_reviewed_csvs(repo):
    from playwright.sync_api import sync_playwright

    server = ServedProcess(repo, "serve", "--questions", "4", "--attention", "1")
    reviewer_token = run(["melt-study", "reviewer", "add", "alice"], repo).stdout.strip()
    with sqlite3.connect(repo / "study" / "melt-study.db") as con:
        secret = con.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()[0]

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.set_index(pd.Index([item_id(secret, s, d, u) for s, d, u in zip(
            frame["split"], frame["dialogue_id"], frame["utterance_id"])], name="item_id"))

    items = keyed(_csv(repo / "data" / "study" / "items.csv"))
    queue = keyed(_csv(repo / "data" / "study" / "review_queue.csv"))
    context = _csv(repo / "data" / "study" / "context.csv")
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
            review.wait_for_selector("#current article.item")
            assert _shown(review) == queue.index[0]                # least certain first, one item at a time
            assert review.text_content("#position") == "Item 1 of 10 on page 1"
            # The conversation before the line: the turns of context.csv, each playable through a signed URL.
            with_turns = next(i for i, row in enumerate(queue.itertuples()) if i < 10 and (
                (context["split"] == row.split) & (context["dialogue_id"] == row.dialogue_id)
                & (context["utterance_id"] == row.utterance_id)).any())
            _press_until(review, "ArrowRight", f"Item {with_turns + 1} of 10 on page 1")
            row = queue.iloc[with_turns]
            turns = context[(context["split"] == row["split"]) & (context["dialogue_id"] == row["dialogue_id"])
                            & (context["utterance_id"] == row["utterance_id"])]
            shown_turns = review.locator("#current .context li.turn")
            assert [(shown_turns.nth(i).locator(".speaker").text_content(),
                     shown_turns.nth(i).locator(".turn-text").text_content()) for i in range(shown_turns.count())] \
                == list(zip(turns["Speaker"], turns["Utterance"]))
            played = review.evaluate("""() => new Promise((done, fail) => {
                const clip = document.querySelector('#current .context audio');
                clip.addEventListener('ended', () => done(clip.currentTime), {once: true});
                clip.addEventListener('error', () => fail('no clip'), {once: true});
                clip.play(); })""")
            assert played > 0
            _press_until(review, "ArrowLeft", "Item 1 of 10 on page 1")
            # Keyboard only: four decisions on page 1, then across the page boundary, a fifth on page 2.
            plan = [("llm", "", ""), ("meld", "", ""), ("reviewer", "Frustration", NOTE), ("llm", "", "checked")]
            made = [_decide_by_keyboard(review, *step) for step in plan]
            assert made == list(queue.index[:4])
            _press_until(review, "ArrowRight", "Item 1 of 10 on page 2")
            assert _shown(review) == queue.index[10]
            made.append(_decide_by_keyboard(review, "meld"))
            plan.append(("meld", "", ""))
            _press_until(review, "ArrowLeft", "Item 10 of 10 on page 1")   # and back across the boundary
            assert _shown(review) == queue.index[9]
            for iid, (source, _label, _note) in zip(made, plan):
                row = queue.loc[iid]
                decided[iid] = {"llm": (row["llm_label"], "llm"), "meld": (row["meld_label"], "meld"),
                                "reviewer": ("frustration", "reviewer")}[source]
            review.reload()                                        # the token survives a reload (sessionStorage)
            review.wait_for_selector("#current article.item")
            review.select_option("#filter", "decided")
            review.wait_for_function("() => document.getElementById('position').textContent === "
                                     "'Item 1 of 5 on page 1'")
            _press_until(review, "n", "Item 3 of 5 on page 1")
            assert _shown(review) == made[2]
            note_item = review.locator("#current .decision")
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
    assert decisions[made[2]][3] == NOTE

    # --- dvc repro picks the new answers up: metrics and reviewed CSVs follow the clicks ------------------------
    out = run(["dvc", "repro", "study_report", "review_apply"], repo).stdout
    assert "Running stage 'study_report'" in out and "Running stage 'review_apply'" in out
    pref = [c for c in clicks if c["kind"] == "preference"]
    k = sum(c["choice"] == c["melt"] for c in pref)
    metrics = json.loads((repo / "metrics" / "study.json").read_text())
    # One participant: no cluster-bootstrap interval (nothing to resample), stated as null rather than invented.
    assert metrics["overall"] == {"prefer_melt": round(k / len(pref), 4), "ci_low": None, "ci_high": None,
                                  "answers": 4, "participants": 1, "attention_failures": 0}
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
    catalog = load_catalog(repo / "data" / "study", repo, store.secret)
    for _ in range(3):
        pid, _token = store.create_participant({}, catalog.preference, catalog.attention, 6, 1)
        for q in store.questions(pid):
            store.record_answer(pid, q["item_id"], q["option_a"], None)
    expected = sum(a["kind"] == "preference" for a in store.answers())
    run(["dvc", "exp", "run", "--temp", "-S", "study.max_attention_failures=1", "study_report"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    answers = [m["overall"]["answers"] for m in _study_metrics(shown)]
    assert expected >= 18 and expected in answers, answers
