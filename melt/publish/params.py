"""Params of the `publish` stage."""

from __future__ import annotations

from pydantic import Field, model_validator

from melt.params_base import Section


class PublishParams(Section):
    push: bool = Field(False, description=(
        "Upload `data/hub` to the Hub in one commit after building it; needs `publish.repo_id` and the token in "
        "the `HF_TOKEN` environment variable (never in params). false: build only."))
    repo_id: str | None = Field(None, description=(
        "Hub dataset repository `<user or org>/<name>`; required with `push`. The card's `load_dataset` example "
        "names it (`<user>/<name>` when null)."))
    private: bool = Field(True, description="Visibility of a repository the push creates (an existing one keeps its own).")
    endpoint: str | None = Field(None, description=(
        "A Hub-compatible server URL; null: huggingface_hub's default (huggingface.co or `HF_ENDPOINT`)."))
    include_audio: bool = Field(False, description=(
        "Embed each utterance's WAV bytes in the Parquet files (column `audio`). Only for your own corpora: "
        "MELD's media are not redistributable."))
    pretty_name: str | None = Field(None, description=(
        "Title of the dataset card; null: by source (\"MELT: LLM re-annotation of MELD\" for MELD, a title saying "
        "it is the pipeline demo for the demo corpus)."))
    license: str | None = Field(None, description=(
        "Hub licence id of the published data. null: the source's own licence, `mit` for the demo corpus (this "
        "repository's licence) and `gpl-3.0` for MELD; a MELD build cannot be published under another licence."))
    version: str = Field("1.0.0", pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$", description=(
        "Version of the published dataset: the card and provenance.json name the registry release "
        "`melt-dataset@v<version>` (tag the repository with it, docs/melt-dataset.md)."))
    commit_message: str = Field("Publish MELT dataset", description="Message of the Hub commit a push makes.")

    @model_validator(mode="after")
    def _repo_id_shape(self):
        if self.repo_id is not None and self.repo_id.count("/") != 1:
            raise ValueError(f"publish.repo_id must look like 'user/name' (got {self.repo_id!r})")
        return self
