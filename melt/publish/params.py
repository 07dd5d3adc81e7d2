"""Params of the `publish` stage."""

from __future__ import annotations

from pydantic import model_validator

from melt.params_base import Section


class PublishParams(Section):
    # Push data/hub to the Hub (needs HF_TOKEN in the environment and repo_id). Off: build only.
    push: bool = False
    repo_id: str | None = None          # "<user or org>/<name>"
    private: bool = True
    endpoint: str | None = None         # a Hub-compatible server; null: huggingface_hub's default
    # Include the audio files in the Parquet files. MELD's media are not redistributable: only for your own corpora.
    include_audio: bool = False
    pretty_name: str = "MELT: LLM re-annotation of MELD"
    license: str = "gpl-3.0"            # MELD's licence; the derived labels inherit it
    commit_message: str = "Publish MELT dataset"

    @model_validator(mode="after")
    def _repo_id_shape(self):
        if self.repo_id is not None and self.repo_id.count("/") != 1:
            raise ValueError(f"publish.repo_id must look like 'user/name' (got {self.repo_id!r})")
        return self
