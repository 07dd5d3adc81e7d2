"""Params of the `compute` section: where the stages that run a model over every file run (docs/scale.md).

None of it changes an output (local and Ray runs give the same bytes), so no stage lists it in its DVC params."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from melt.params_base import Section


class ActorResources(Section):
    """What one model instance (a Ray actor, or a local worker process) asks for, and how many of them run."""

    actors: int = Field(1, ge=1, description="Model instances, each loaded once: Ray actors (`engine: ray`); with "
                                             "`engine: local`, forked worker processes for openSMILE (torch models "
                                             "run in the stage's own process).")
    batch_size: int = Field(8, ge=1, description="Items per model call. Batches are formed in item order before "
                                                 "dispatch, so every engine and actor count computes the same "
                                                 "batches (and so the same bits).")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per Ray actor (Ray's scheduling request).")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per Ray actor; a fraction shares a GPU between actors. "
                                                   "0: the actor runs on CPUs.")


class ComputeParams(Section):
    """The engine of the stages that run a model or openSMILE over every file: `transcribe`, `features@<backbone>`,
    `acoustics`, `erc_embed@<modality>` (docs/scale.md)."""

    engine: Literal["local", "ray"] = Field(
        "local", description="`local`: this machine, `actors` worker processes; `ray`: a Ray Data actor pool on a "
                             "Ray cluster (same outputs, byte for byte).")
    ray_address: str | None = Field(
        None, description="`engine: ray` only. null: start a Ray instance on this machine (loopback only); `auto`: "
                          "join the cluster this machine belongs to (`ray start`); `host:port`: join that head node.")
    transcribe: ActorResources = Field(default_factory=ActorResources, description="Whisper (`transcribe`).")
    features: ActorResources = Field(default_factory=lambda: ActorResources(actors=2),
                                     description="Backbones and eGeMAPS (`features@<backbone>`).")
    acoustics: ActorResources = Field(default_factory=lambda: ActorResources(actors=2),
                                      description="eGeMAPS (`acoustics`).")
    erc_embed: ActorResources = Field(default_factory=ActorResources,
                                      description="Text and speech embeddings (`erc_embed@<modality>`).")
