"""Backends of audio annotators: the clip is put into the body at send time, and the offline audio annotator.

`AudioSender` wraps any backend (an OpenAI-compatible server, the offline audio heuristic): before each call it
materialises the request's audio (melt.annotate.audio.materialise: encode, check the sha256, base64); a clip that
changed since the `prompts` stage is not sent, and its reason is kept for the annotation record. The engine sees
an ordinary backend.
"""

from __future__ import annotations

import json

from melt.annotate.audio import AudioChanged, decode_part, materialise
from melt.annotate.audio_heuristic import AUDIO_HEURISTIC_ID, LOUDNESS_FEATURE, PITCH_FEATURE, answer
from melt.annotate.backends import Reply, RetriesExhausted


def audio_tokens(settings, seconds: float) -> int:
    """Estimated audio input tokens of a clip (`audio_tokens_per_s`)."""
    return int(round(seconds * settings.audio_tokens_per_s))


def audio_cost_adjustment(settings, seconds: float, prompt_tokens: int, asks: int = 1) -> float:
    """USD to add to the text-priced cost of `asks` answers to an audio request: its audio tokens at
    `audio_price_per_1m` instead of the text input price they were counted at (a server's prompt tokens
    include the audio's). Offline and local answers with no price cost nothing."""
    if settings.backend != "openai" or not seconds:
        return 0.0
    tokens = audio_tokens(settings, seconds) * asks
    price = settings.prices.get(settings.model)
    text_rate = price.input_per_1m if price is not None else 0.0
    return (tokens * settings.audio_price_per_1m - min(tokens, prompt_tokens) * text_rate) / 1e6


class AudioSender:
    """Wraps a backend: materialise the audio, then call it. `changed`: prompt key → reason, for the records."""

    def __init__(self, inner, settings):
        self.inner, self.settings = inner, settings
        self.name, self.model = inner.name, getattr(inner, "model", None)
        self.changed: dict[str, str] = {}
        self.audio_bytes_sent = 0
        self.extra_cost_usd = 0.0   # audio tokens of this run's answers, beyond their text price

    async def complete(self, prompt: dict, body: dict) -> Reply:
        try:
            sent = materialise(prompt, body)
        except AudioChanged as err:
            self.changed[prompt["key"]] = str(err)
            raise RetriesExhausted(str(err), 0) from None
        reply = await self.inner.complete(prompt, sent)
        audio = prompt.get("audio") or {}
        self.audio_bytes_sent += _base64_bytes(sent)
        self.extra_cost_usd += audio_cost_adjustment(self.settings, audio.get("seconds", 0.0), reply.prompt_tokens)
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


def _base64_bytes(body: dict) -> int:
    return sum(len(p["input_audio"]["data"]) for m in body["messages"] if isinstance(m["content"], list)
               for p in m["content"] if p.get("type") == "input_audio")


class AudioHeuristicBackend:
    """The offline backend of `input: audio` (melt.annotate.audio_heuristic): answers from the audio part of the
    body it is given, decoded as a server would decode it, measured with openSMILE."""
    name = "offline"

    def __init__(self):
        self.model = AUDIO_HEURISTIC_ID
        self._smile = None

    def measure(self, samples, sample_rate: int) -> tuple[float, float]:
        if self._smile is None:   # openSMILE loads its configuration once per run
            import opensmile
            self._smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                          feature_level=opensmile.FeatureLevel.Functionals)
        row = self._smile.process_signal(samples, sample_rate).iloc[0]
        return float(row[LOUDNESS_FEATURE]), float(row[PITCH_FEATURE])

    async def complete(self, prompt: dict, body: dict) -> Reply:
        decoded = decode_part(body)
        if decoded is None:   # a body without audio: answer like a model that heard nothing
            return Reply(None, 0, 0, 1)
        loudness, pitch = self.measure(*decoded)
        return Reply(json.dumps(answer(loudness, pitch, prompt.get("speaker", "")), ensure_ascii=False), 0, 0, 1)

    async def aclose(self) -> None:
        pass
