"""The top-level sections of params.yaml (a test checks this equals `melt.config.Params`).

A stage loads only its own sections but checks every top-level key against this list, so a typo such
as `anotate:` stops every stage instead of being silently ignored. This list can only stop a stage,
never change what it writes, so it is deliberately not a DVC dependency (tests/test_dvc_deps.py):
adding a section re-runs nothing.
"""

SECTIONS = ("data", "prepare", "prompts", "annotate", "derive", "analyze", "publish", "acoustics", "ser", "study",
            "pretrain", "asr", "pseudolabel", "text", "erc",
            "compute")
