"""Human studies: the paper's preference test (Figure 3) and a review queue of LLM–MELD disagreements.

A small self-hosted app (`melt-study serve`: FastAPI, SQLite in WAL mode, server-rendered pages) over the
study set that the `study_set` stage samples from `data/melt`; `study_report` turns the answers into
metrics and a bar chart, `review_apply` turns review decisions into `data/melt_reviewed`.
"""
