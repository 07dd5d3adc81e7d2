"""The offline annotator: a deterministic rule-based text baseline, NOT an LLM.

It reads the same dialogue line an LLM would and answers in the paper's JSON structure, from
keyword and punctuation cues. Word lists are written here (no third-party lexicon, no weights).
Its labels are a heuristic baseline, named as such (`offline-heuristic-v1`) in every output.
"""

from __future__ import annotations

import json
import re

HEURISTIC_ID = "offline-heuristic-v1"

# Cue words per emotion (lower-case, whole words or prefixes ending in '*').
CUES: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "mad", "hate", "damn", "shut", "stupid", "idiot", "furious", "stop", "liar", "how dare",
              "annoy*", "ridiculous", "unbelievable", "kill", "yell*", "enough"),
    "disgust": ("gross", "ew", "eww", "ugh", "yuck", "disgust*", "nasty", "sick", "revolting", "creepy", "smell*"),
    "sadness": ("sad", "sorry", "miss", "cry*", "lost", "lonely", "hurt", "broke", "died", "dead", "alone",
                "unfortunately", "depress*", "upset", "terrible", "tears"),
    "joy": ("great", "love", "happy", "yay", "awesome", "wonderful", "amazing", "fun", "congratulations",
            "thank*", "glad", "excit*", "perfect", "beautiful", "haha", "nice", "cool", "woo*", "fantastic"),
    "surprise": ("what", "really", "wow", "whoa", "oh my god", "no way", "seriously", "omg", "huh",
                 "can't believe", "cannot believe", "you're kidding"),
    "fear": ("scared", "afraid", "fear", "terrified", "nervous", "worried", "worry", "panic", "help",
             "careful", "oh no", "danger*", "frighten*"),
}

# Voice descriptions per label: plain words (loud/soft, high/low-pitched, fast/slow) that the
# acoustics stage maps to low/mid/high.
VOICE = {
    "anger": ("loud", "low-pitched and tense", "fast", "confrontational and intense"),
    "disgust": ("moderate", "low-pitched", "slow", "dismissive and repelled"),
    "sadness": ("soft", "low-pitched", "slow", "heavy and sorrowful"),
    "joy": ("loud", "high-pitched", "fast", "warm and uplifting"),
    "neutral": ("moderate", "medium pitch", "moderate", "calm and matter-of-fact"),
    "surprise": ("loud", "high-pitched", "fast", "startled and animated"),
    "fear": ("soft", "high-pitched and shaky", "fast", "anxious and tense"),
}
ORDER = ("anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear")  # tie-break order

_LINE = re.compile(r"^(?P<speaker>.+?) at s\d+e\d+ said: (?P<utterance>.*)$", re.S)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _cue_hits(text: str) -> dict[str, int]:
    lowered, words = text.lower(), _words(text)
    hits = {}
    for label, cues in CUES.items():
        n = 0
        for cue in cues:
            if " " in cue:
                n += lowered.count(cue)
            elif cue.endswith("*"):
                n += sum(w.startswith(cue[:-1]) for w in words)
            else:
                n += words.count(cue)
        hits[label] = n
    return hits


def annotate_line(speaker: str, utterance: str) -> dict:
    """The answer object for one line of dialogue (deterministic)."""
    text = utterance.strip()
    scores = {"neutral": 0.0, **{label: 2.0 * n for label, n in _cue_hits(text).items()}}
    exclaims, questions = text.count("!"), text.count("?")
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    trailing = "..." in text or "…" in text
    if exclaims:
        for label in ("joy", "anger", "surprise"):
            scores[label] += 0.5 * min(exclaims, 3) if scores[label] else 0.0
    if questions and exclaims:
        scores["surprise"] += 1.0
    if shouting:
        scores["anger"] += 1.0
    if trailing:
        scores["sadness"] += 0.5 if scores["sadness"] else 0.0
    best = max(ORDER, key=lambda lab: (scores[lab], -ORDER.index(lab)))
    label = best if scores[best] >= 1.0 else "neutral"

    loudness, pitch, rhythm, impact = VOICE[label]
    if shouting or exclaims >= 2:
        loudness = "very loud"
    elif trailing and label == "neutral":
        loudness, rhythm = "soft", "slow and hesitant"
    if questions and label == "neutral":
        pitch = "slightly high-pitched, rising at the end"
    cues = [f"{n} '!'" for n in [exclaims] if n] + [f"{n} '?'" for n in [questions] if n]
    cues += ["capitals"] if shouting else []
    cues += ["trailing off"] if trailing else []
    cues += [f"{lab} words" for lab, n in _cue_hits(text).items() if n]
    name = speaker.strip().title() or "Unknown"
    context = (f"{name} speaks a line of {len(_words(text))} words"
               + (f"; text cues: {', '.join(cues)}" if cues else "; no emotional text cues")
               + f" (rule-based baseline {HEURISTIC_ID}, not an LLM judgement).")
    return {"character": name, "context": context,
            "elements": {"emotion": label.capitalize(), "loudness": loudness, "pitch": pitch,
                         "rhythm_speed": rhythm, "emotional_impact": impact}}


def annotate_prompt(prompt: dict) -> str:
    """Raw answer text for a request record, as an LLM backend would return it."""
    speaker, utterance = prompt.get("speaker"), prompt.get("utterance")
    if speaker is None or utterance is None:   # fall back to the rendered line (last line of the message)
        last = prompt["body"]["messages"][-1]["content"].rsplit("\n", 1)[-1]
        m = _LINE.match(last)
        speaker, utterance = (m["speaker"], m["utterance"]) if m else ("Unknown", last)
    return json.dumps(annotate_line(str(speaker), str(utterance)), ensure_ascii=False)
