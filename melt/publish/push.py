"""Upload the built repository folder to the Hub (or any Hub-compatible server) in one commit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from huggingface_hub import HfApi

from melt.publish.dataset import PublishError
from melt.publish.params import PublishParams


def push_token(params: PublishParams, env: Mapping[str, str] = os.environ) -> str:
    """The token to push with, from HF_TOKEN only; a clear error (before any work) when something is missing."""
    missing = []
    if not params.repo_id:
        missing.append("publish.repo_id is not set (e.g. 'your-user/melt')")
    if not env.get("HF_TOKEN"):
        missing.append("HF_TOKEN is not set in the environment (the token is read from there only)")
    if missing:
        raise PublishError("publish.push is true but " + "; ".join(missing) + ". Nothing was built or uploaded.")
    return env["HF_TOKEN"]


def push_folder(folder: Path, params: PublishParams, token: str) -> dict:
    api = HfApi(endpoint=params.endpoint, token=token)
    repo = api.create_repo(params.repo_id, repo_type="dataset", private=params.private, exist_ok=True)
    commit = api.upload_folder(repo_id=params.repo_id, repo_type="dataset", folder_path=str(folder),
                               commit_message=params.commit_message)
    return {"repo_id": params.repo_id, "repo_url": str(repo), "commit": commit.oid, "private": params.private}
