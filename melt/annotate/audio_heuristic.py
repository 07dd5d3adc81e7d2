"""The offline audio annotator: deterministic rules over the clip's loudness and pitch, NOT an LLM.

It receives the request as an audio LLM would (the `input_audio` part, base64 WAV/MP3), decodes it, measures
two eGeMAPSv02 functionals with openSMILE (`loudness_sma3_amean`, `F0semitoneFrom27.5Hz_sma3nz_amean`), bins
each into low / mid / high and maps the pair to an emotion by arousal: loud and high → surprise, loud and mid →
joy, loud and low → anger, soft and high → fear, soft otherwise → sadness, moderate loudness → neutral. It
answers in the paper's JSON structure, its measured levels as the voice description. The cut points were read
off the demo corpus's synthetic speech (whose loudness and pitch levels are known); on real recordings it is
only a baseline for running the audio path end to end, named as such (`offline-audio-arousal-v1`).
"""

from __future__ import annotations

from melt.annotate.heuristic import VOICE

AUDIO_HEURISTIC_ID = "offline-audio-arousal-v1"
LOUDNESS_FEATURE = "loudness_sma3_amean"
PITCH_FEATURE = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_CUTS = (0.34, 0.54)     # soft < 0.34 ≤ moderate < 0.54 ≤ loud
PITCH_CUTS = (27.5, 31.0)        # semitones above 27.5 Hz: low < 27.5 (≈ 134 Hz) ≤ mid < 31 (≈ 164 Hz) ≤ high
RULES = {
    ("high", "high"): "surprise", ("high", "mid"): "joy", ("high", "low"): "anger",
    ("low", "high"): "fear", ("low", "mid"): "sadness", ("low", "low"): "sadness",
}
WORDS = {"loudness": {"low": "soft", "mid": "moderate", "high": "loud"},
         "pitch": {"low": "low-pitched", "mid": "medium pitch", "high": "high-pitched"}}


def level(value: float, cuts: tuple[float, float]) -> str:
    return "low" if value < cuts[0] else "mid" if value < cuts[1] else "high"


def rule(loudness: float, pitch: float) -> str:
    """The emotion the rules give for measured loudness and pitch."""
    return RULES.get((level(loudness, LOUDNESS_CUTS), level(pitch, PITCH_CUTS)), "neutral")


def answer(loudness: float, pitch: float, speaker: str) -> dict:
    label = rule(loudness, pitch)
    loud, high = level(loudness, LOUDNESS_CUTS), level(pitch, PITCH_CUTS)
    _, _, rhythm, impact = VOICE[label]
    name = str(speaker).strip().title() or "Unknown"
    context = (f"{name}'s voice measured at loudness {loudness:.3f} ({loud}) and pitch {pitch:.2f} semitones "
               f"({high}) (rule-based audio baseline {AUDIO_HEURISTIC_ID}, not an LLM judgement).")
    return {"character": name, "context": context,
            "elements": {"emotion": label.capitalize(), "loudness": WORDS["loudness"][loud],
                         "pitch": WORDS["pitch"][high], "rhythm_speed": rhythm, "emotional_impact": impact}}
