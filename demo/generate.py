"""Generate the two synthetic demo corpora with espeak-ng (run from the repo root).

    python demo/generate.py            # regenerate demo/sitcom and demo/acted, then check
    python demo/generate.py --check    # only re-measure demo/sitcom and print the level UARs
    python demo/generate.py --podcast  # only regenerate demo/podcast (demo/podcast.py)

demo/sitcom: a MELD-format corpus (CSV per split + dia{D}_utt{U}.wav) of an original sitcom script.
demo/acted:  a TESS-layout acted corpus ("Say the word X" in 7 emotions) for cross-corpus tests.
demo/podcast: an unlabelled chat podcast in MSP-Podcast's layout, for text pre-training (demo/podcast.py).

Each character has its own espeak-ng voice and base pitch; each emotion has its own pitch offset,
loudness offset and speaking rate (EMOTION_PROSODY), with a little per-line jitter. The intended
pitch and loudness of every sitcom line are ranked over the corpus and cut 30/40/30 into low/mid/
high (demo/sitcom/prosody.csv), the same binning the paper applies to measured eGeMAPS values.
To make the measured values land in the intended bins we (1) widen the gaps between bins a little
and (2) steer espeak's -p / -a per line until openSMILE measures the intended F0 and loudness.

Needs espeak-ng, numpy, soundfile, soxr and opensmile; nothing that *uses* the corpora needs espeak.
Deterministic: fixed seeds, espeak-ng and openSMILE are deterministic, so reruns are byte-identical.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DEMO = Path(__file__).resolve().parent
SITCOM, ACTED = DEMO / "sitcom", DEMO / "acted"
SEED = 20250530
SAMPLE_RATE = 8_000  # 16 kHz would not fit the 10 MB budget; the library resamples on load
PAD_S = 0.05  # silence kept before and after the speech after trimming espeak's padding

# ----------------------------------------------------------------------------------------------
# Voices. base_st: the character's neutral F0 in semitones above 27.5 Hz (openSMILE's F0 unit);
# loud_db: a small per-character loudness offset; rate: multiplies the emotion's speaking rate.
# All voice+variant pairs differ, so every speaker is acoustically distinct.
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Voice:
    voice: str
    base_st: float
    loud_db: float = 0.0
    rate: float = 1.0


CHARACTERS = {
    # the six flatmates of 14 Quince Street
    "Nadia": Voice("en-gb-x-rp+f5", 29.5, -0.5, 1.00),  # organised, anxious, works at a bank
    "Priya": Voice("en-us+f4", 30.5, 1.0, 1.05),  # aspiring actress
    "Ingrid": Voice("en-gb-x-gbclan+f2", 29.0, 0.0, 0.95),  # blunt veterinary nurse
    "Theo": Voice("en-us+m3", 25.5, -1.0, 1.00),  # sarcastic graphic designer
    "Marcus": Voice("en-gb-scotland+m2", 26.0, 1.5, 1.00),  # dramatic chef
    "Felix": Voice("en-us-nyc+m7", 26.5, 0.0, 1.05),  # sweet, owns Gerald the tortoise
    # minor characters (fewer than 10 lines) and MELD-style generic speakers
    "Mrs. Okafor": Voice("en-029+f1", 30.0, 0.5, 0.95),  # the landlady
    "Dev": Voice("en-gb-x-gbcwmd+m4", 25.0, 0.0, 1.00),  # Priya's boyfriend
    "All": Voice("en-us+m6", 27.0, 2.0, 1.00),
    "Guy": Voice("en-gb-x-gbclan+m8", 24.0, 0.0, 1.00),
    "The Interviewer": Voice("en-gb-x-rp+m1", 25.5, 0.0, 0.95),
}

# TESS-style speakers of the acted corpus: codes of our own, variants no sitcom voice uses.
ACTED_SPEAKERS = {
    "SYF": Voice("en-us+f3", 30.0),  # synthetic young female
    "SAM": Voice("en-gb-x-rp+m5", 26.0),  # synthetic adult male
}
ACTED_WORDS = ["chair", "lamp", "road", "moon", "coat", "rain"]
TESS_EMOTION = {"anger": "angry", "disgust": "disgust", "fear": "fear", "joy": "happy",
                "neutral": "neutral", "sadness": "sad", "surprise": "ps"}

# ----------------------------------------------------------------------------------------------
# Emotion -> prosody, shared by both corpora: pitch offset (semitones), loudness offset (dB of
# espeak amplitude) and speaking rate (espeak -s, words per minute).
# ----------------------------------------------------------------------------------------------
EMOTION_PROSODY = {  # emotion: (pitch_st, loud_db, rate_wpm)
    "neutral": (0.0, 0.0, 205),
    "joy": (2.5, 3.0, 220),
    "sadness": (-2.5, -5.0, 155),
    "anger": (2.0, 5.0, 230),
    "surprise": (3.5, 3.0, 215),
    "fear": (3.0, -2.5, 235),
    "disgust": (-2.0, 0.0, 165),
}
JITTER_ST, JITTER_DB, JITTER_RATE = 0.75, 1.5, 0.05  # per-line uniform jitter (+/-)
GAP_ST, GAP_DB = 1.5, 2.5  # extra distance pushed between adjacent low/mid/high bins
LEVEL_CUTS = (0.3, 0.7)  # bottom 30% low, middle 40% mid, top 30% high (paper Table 4)

# Loudness model: openSMILE loudness grows like amplitude**GAMMA; REF_LOUDNESS is what a typical
# voice measures at espeak -a 50, the amplitude of a neutral line.
GAMMA, REF_AMPLITUDE, REF_LOUDNESS = 0.7, 50, 0.30

SENTIMENT = {"neutral": "neutral", "joy": "positive", "sadness": "negative", "anger": "negative",
             "fear": "negative", "disgust": "negative"}  # surprise: given per line (+ or -)

# ----------------------------------------------------------------------------------------------
# The script: original lines. "== split" starts a dialogue; each line is speaker | emotion | text.
# Labels are what a human annotator would pick in context, so a few do not match the words.
# ----------------------------------------------------------------------------------------------
SCRIPT = """
== train
Nadia | neutral | Has anyone seen the rent envelope? It was on the fridge.
Theo | neutral | Define seen.
Nadia | anger | Theo, if you spent the rent again, I swear.
Theo | fear | I only borrowed it for an hour! I was going to put it back!
Felix | surprise- | You spent our rent on what?
Theo | sadness | A very small, very sad bicycle.

== train
Felix | joy | Gerald ate a whole strawberry this morning!
Ingrid | neutral | Gerald is a tortoise, Felix. That is what they do.
Felix | joy | But he looked so proud of himself.
Ingrid | neutral | He looked exactly the same as always.
Felix | sadness | You never believe in Gerald.

== train
Marcus | joy | Tonight I am making my famous mushroom risotto.
Priya | disgust | Please not the one with the fish sauce again.
Marcus | anger | That was a bold choice and you know it!
Priya | disgust | It smelled like a harbour at low tide.
Nadia | neutral | I'll order pizza, just in case.

== train
Priya | fear | My audition is in twenty minutes and I forgot every line.
Nadia | neutral | Okay, breathe. What is the part?
Priya | fear | It's a detergent advert. I have to love a shirt.
Theo | neutral | Just look at the shirt the way you look at Dev.
Priya | joy | Oh, that's actually really helpful!

== train
The Interviewer | neutral | Please, take a seat. Tell us about yourself.
Priya | neutral | Well, I have been acting since I was six.
The Interviewer | neutral | And why do you want this part?
Priya | joy | Because I really, truly love clean laundry!
The Interviewer | surprise+ | Wow. That was very convincing.

== train
Ingrid | disgust | Something in this fridge has died.
Felix | neutral | Oh, that's my yoghurt experiment.
Ingrid | disgust | It's green. It has a smell I can see.
Felix | sadness | It was going to be a cheese.
Marcus | anger | Nobody puts experiments in my fridge!

== train
Mrs. Okafor | neutral | Good morning. I'm here to check the boiler.
Nadia | fear | Right now? The flat is a complete mess.
Mrs. Okafor | neutral | I have seen worse, dear. Much worse.
Mrs. Okafor | surprise- | Is that a tortoise in my bathtub?
Felix | fear | He's a visitor! He's just visiting!
Mrs. Okafor | anger | No pets in the lease, Felix. None.

== train
Theo | sadness | Lena broke up with me by text.
Priya | sadness | Oh, Theo. I'm so sorry.
Theo | sadness | She used a thumbs up.
Marcus | anger | That's cold! That is just cold!
Ingrid | neutral | At least it was quick.
Theo | neutral | Thank you, Ingrid. Very comforting.

== train
Felix | surprise+ | Guys, I won forty pounds on a scratch card!
All | joy | No way!
Felix | joy | I'm buying everyone chips tonight.
Theo | joy | This is the best day of the month.

== train
Nadia | fear | There's a spider in my room. A big one.
Marcus | neutral | How big?
Nadia | fear | It has knees, Marcus. I saw its knees.
Marcus | fear | Nope. I am not going in there.
Ingrid | neutral | Move. I'll get it.
Nadia | joy | Ingrid, you are my hero.

== train
Dev | neutral | Hey, is Priya home?
Theo | neutral | She's in the shower. Singing, sadly.
Dev | joy | That's my favourite song she sings!
Theo | disgust | You two are honestly too much.

== train
Marcus | joy | The restaurant wants me as head chef!
Nadia | surprise+ | Marcus! That's amazing!
Marcus | joy | I'm going to have a hat. A tall one.
Felix | joy | Can I touch the hat?
Marcus | neutral | When I get it, yes.

== train
Guy | anger | Can you people keep it down? It's two in the morning!
Theo | neutral | Sorry, mate. Karaoke night.
Guy | anger | Every night is karaoke night!
Priya | sadness | He's not wrong, to be fair.

== train
Ingrid | neutral | My sister is coming to stay for a week.
Nadia | neutral | Where will she sleep?
Ingrid | neutral | On the sofa. She snores like a lawnmower.
Theo | fear | Please tell me it's not this week.
Ingrid | neutral | It is this week.
Theo | sadness | Great. Wonderful.

== train
Nadia | anger | Whose turn was it to wash up? There are four pans in here.
Felix | neutral | I think it was Marcus.
Marcus | anger | I cooked! The cook does not wash!
Nadia | anger | That's not a rule! You made that up!
Marcus | neutral | All the great rules are made up.

== train
Priya | surprise+ | I got a callback! For the shirt advert!
Ingrid | joy | Good. Now you can pay your half of the heating.
Priya | joy | I'm a professional shirt lover!
Felix | joy | I knew it! I told Gerald you'd get it.

== train
Ingrid | disgust | There's black mould behind the wardrobe.
Nadia | disgust | Oh, that is revolting.
Ingrid | neutral | I'll call Mrs. Okafor.
Nadia | fear | Don't! She'll find out about the tortoise.

== train
Theo | anger | The client wants the logo bigger. Again.
Priya | neutral | How big is it now?
Theo | anger | It's the whole page, Priya. The entire page.
Priya | neutral | Maybe they want a bigger page.
Theo | sadness | I hate that you might be right.

== train
Nadia | neutral | So, Felix's birthday is on Saturday. Ideas?
Marcus | joy | I'll bake a cake shaped like Gerald!
Ingrid | neutral | He'll cry.
Marcus | neutral | Happy crying, though.
Theo | neutral | Fine, I'll get the balloons.

== train
All | joy | Happy birthday, Felix!
Felix | surprise+ | You did all this for me?
Felix | joy | Is that cake a tortoise? It's perfect!
Marcus | joy | Three hours. Worth it.

== train
Priya | sadness | The heating is broken and I can see my breath.
Theo | neutral | Put on another jumper.
Priya | anger | I'm wearing four jumpers, Theo!
Mrs. Okafor | neutral | The engineer will come on Monday.
Priya | sadness | Monday? That's three days away.

== train
Marcus | fear | I burned the garlic bread. The alarm is going to go off.
Nadia | fear | Open the window! Quick!
Theo | surprise- | Why is there so much smoke?
Marcus | sadness | It was going to be beautiful.

== train
Nadia | joy | I got the promotion at the bank!
Ingrid | joy | Finally. They should have done it last year.
Nadia | joy | I'm a senior analyst now.
Felix | neutral | What does an analyst do?
Nadia | neutral | I look at spreadsheets, mostly.
Felix | joy | That sounds so fancy.

== train
Ingrid | sadness | We lost a dog at the clinic today.
Felix | sadness | Oh no. I'm so sorry, Ingrid.
Ingrid | sadness | He was old. It was peaceful. Still.
Nadia | neutral | Do you want some tea?
Ingrid | neutral | Yes. Tea would be good.

== train
Theo | neutral | I'm back on the dating app.
Priya | joy | Ooh, let me see your profile!
Priya | disgust | Your photo is you holding a fish.
Theo | anger | It's a big fish! It shows I'm outdoorsy!
Priya | neutral | You have been fishing once.

== train
Priya | anger | Dev forgot our anniversary.
Ingrid | neutral | Did he forget, or did he not know?
Priya | anger | Is there a difference?
Ingrid | neutral | Legally, yes.
Priya | sadness | I just wanted a card.

== train
Dev | fear | Priya, I'm so sorry. I got you flowers.
Priya | surprise+ | Are those sunflowers? My favourite!
Dev | neutral | The man at the shop chose them.
Priya | neutral | You didn't have to tell me that.

== train
The Interviewer | neutral | So, Felix, where do you see yourself in five years?
Felix | neutral | Honestly? Still with Gerald.
The Interviewer | surprise- | Who is Gerald?
Felix | joy | My tortoise. He's forty two.

== train
Marcus | anger | Who has been in the bathroom for forty minutes?
Theo | neutral | Priya. She's rehearsing.
Marcus | anger | In the bathroom?
Theo | neutral | She says the acoustics are good.
Marcus | disgust | I hate this flat sometimes.

== train
Felix | surprise+ | Whoa, I found twenty pounds in my old coat!
Theo | neutral | Is it the rent money?
Felix | neutral | No, this is a different twenty.
Nadia | surprise- | What?!

== train
Ingrid | disgust | You put raisins in the curry.
Marcus | neutral | Sweetness balances the spice.
Ingrid | disgust | It's like chewing little wet flies.
Marcus | anger | Then don't eat it!
Ingrid | neutral | I already did. Twice.

== train
Nadia | fear | My mum is visiting tomorrow. Everyone, clean.
Felix | neutral | Does she know about Gerald?
Nadia | fear | She doesn't know about anything.
Theo | surprise- | She doesn't know you live with boys?
Nadia | neutral | She thinks I live with three nice nurses.

== train
Nadia | joy | She loved you all. She wants to come back.
Marcus | joy | Because of my risotto.
Nadia | neutral | She said it was a bit fishy.
Marcus | sadness | Everyone's a critic.

== train
Felix | joy | I finally beat level nine!
Theo | surprise- | What? I've been stuck there for weeks!
Felix | neutral | You just have to jump on the duck.
Theo | anger | Nobody told me about the duck!

== train
Priya | fear | The washing machine is making a screaming noise.
Ingrid | neutral | Did you put shoes in it?
Priya | neutral | Only two shoes.
Ingrid | anger | Priya. We talked about this.

== train
Marcus | neutral | I've joined a gym.
Theo | surprise+ | You? Voluntarily?
Marcus | neutral | They have a sauna. I mostly go for the sauna.
Theo | neutral | That makes more sense.

== train
Felix | fear | The lights just went out!
Nadia | neutral | It's a power cut. The whole street is dark.
Felix | fear | Is Gerald okay? Gerald!
Ingrid | neutral | Gerald is a reptile. He likes the dark.
Felix | joy | Oh. That's good, then.

== train
Ingrid | neutral | I have a date on Friday.
Priya | surprise+ | Ingrid! With who?
Ingrid | neutral | A man from the clinic. He owns three cats.
Priya | joy | That's adorable! I'm so happy for you.
Ingrid | neutral | It's just dinner. Calm down.

== train
Marcus | sadness | The restaurant is closing next month.
Nadia | surprise- | What? But you just got the hat!
Marcus | sadness | The hat stays. The job goes.
Felix | sadness | That's so unfair, Marcus.

== train
Priya | disgust | Theo, your socks are on the kitchen table.
Theo | neutral | They're drying.
Priya | disgust | Next to the bread, Theo.
Theo | neutral | The bread doesn't mind.

== train
Nadia | fear | My finance exam is tomorrow and I feel sick.
Ingrid | neutral | You've studied for months.
Nadia | fear | What if I forget how numbers work?
Ingrid | neutral | You won't. Go to bed.

== train
Nadia | surprise+ | I passed! With distinction!
Marcus | joy | I'm making a celebration dinner!
Ingrid | disgust | No raisins.
Marcus | anger | Fine! No raisins!

== train
Felix | joy | I got the job at the pet shop!
Ingrid | joy | That's perfect for you, Felix.
Felix | joy | I get a discount on tortoise food.
Theo | neutral | Gerald is going to be thrilled.

== train
Mrs. Okafor | neutral | I'm afraid the rent is going up next month.
Nadia | sadness | How much?
Mrs. Okafor | neutral | Fifty pounds each.
Theo | anger | For a flat with a broken boiler?
Mrs. Okafor | anger | Watch your tone, young man.

== dev
Priya | joy | Dev booked us a weekend by the sea!
Nadia | joy | That's so romantic.
Priya | fear | I get seasick just looking at boats, though.
Nadia | neutral | You don't have to go on a boat.
Priya | neutral | Right. Good point.

== dev
Theo | disgust | Who left tuna in the microwave?
Marcus | neutral | Not me. I respect the microwave.
Felix | fear | It might have been me.
Theo | anger | The whole hallway smells of fish, Felix!
Felix | sadness | Sorry.

== dev
Ingrid | surprise- | Why is the front door wide open?
Nadia | fear | Did someone break in?
Guy | neutral | Sorry, wrong flat. I'm looking for number twelve.
Nadia | neutral | Number twelve is upstairs, on the left.
Ingrid | anger | Then knock next time!

== dev
Marcus | joy | Guess who has a new job at a hotel kitchen.
Felix | surprise+ | Marcus! You did it!
Marcus | joy | An even better hat, too.
Dev | neutral | Congratulations, man.

== dev
Nadia | sadness | I think I'm going to miss this place.
Theo | surprise- | Are you moving out?
Nadia | neutral | No. I just get sentimental on Sundays.
Theo | neutral | Don't scare me like that.
Nadia | neutral | I'll make us some pancakes.

== dev
Felix | neutral | Gerald has not moved in six hours.
Ingrid | neutral | He's asleep.
Felix | fear | Are you sure? Can you check?
Ingrid | neutral | He's breathing. Look.
Felix | joy | Oh, thank goodness.

== dev
Priya | anger | Someone used my expensive shampoo.
Marcus | neutral | It smelled like mango.
Priya | anger | That's not an excuse!
Theo | disgust | Please don't fight about hair products again.
Marcus | disgust | Ugh, fine.
Priya | sadness | It was a birthday present.

== test
Nadia | neutral | Has anyone seen my blue umbrella?
Felix | neutral | Gerald is sitting under it.
Nadia | surprise- | Why is a tortoise using my umbrella?
Felix | joy | He likes a bit of shade.

== test
The Interviewer | neutral | Thank you for coming in, Marcus.
Marcus | fear | Thank you. I'm a little nervous.
The Interviewer | neutral | Tell me about your signature dish.
Marcus | joy | A mushroom risotto. It's famous.
The Interviewer | disgust | We had a bad experience with risotto here.

== test
Theo | anger | My laptop crashed and I lost the whole project.
Ingrid | neutral | Did you save it?
Theo | anger | Obviously I didn't save it, Ingrid!
Ingrid | neutral | Then you lost it.
Theo | sadness | Two weeks of work. Gone.

== test
Priya | joy | I'm in the advert! It's on television tonight!
All | joy | Yay!
Felix | surprise+ | You're famous now!
Priya | joy | I'm a little bit famous.

== test
Ingrid | disgust | The bin bag split all over the stairs.
Marcus | disgust | Oh, that's disgusting. Is that soup?
Ingrid | neutral | It was soup.
Marcus | anger | Who throws away soup in a bag?

== test
Mrs. Okafor | surprise+ | You fixed the boiler yourselves?
Nadia | neutral | Ingrid watched a video.
Mrs. Okafor | joy | Well done. I'll take fifty off the rent.
Theo | surprise+ | Wait, really?

== test
Felix | sadness | Gerald wouldn't eat his lettuce today.
Ingrid | neutral | Did you try the dandelions?
Felix | sadness | He won't even look at them.
Ingrid | fear | Then we should take him to the clinic.

== test
Dev | fear | Priya, I need to ask you something.
Priya | fear | Why are you kneeling? Dev, what's happening?
Dev | joy | Will you move in with me?
Priya | surprise+ | Oh! I thought it was something else!

== test
Nadia | anger | Someone ate my labelled sandwich.
Theo | neutral | The label said Nadia. It didn't say don't eat.
Nadia | anger | That is exactly what a label means!
Felix | neutral | I can make you a new one.

== test
Marcus | fear | I think there's a mouse behind the oven.
Priya | fear | Where? Where is it?
Ingrid | neutral | It's a sock.
Marcus | neutral | Oh.
Priya | disgust | Why is there a sock behind the oven?

== test
Theo | sadness | Priya's moving out next month.
Nadia | sadness | It won't be the same without her.
Felix | neutral | We could get a new flatmate.
Theo | disgust | Someone who leaves fish in the microwave? No thanks.

== test
Guy | neutral | Delivery for number fourteen.
Nadia | surprise- | We didn't order anything.
Guy | neutral | It says one large tortoise lamp.
Felix | joy | That's mine! I've been waiting for weeks!

== test
Ingrid | neutral | The plumber is coming at nine tomorrow.
Theo | neutral | I'll be at work. Someone else has to let him in.
Nadia | neutral | I can work from home in the morning.
Ingrid | neutral | Good. Keep him away from the tortoise.
Felix | anger | Gerald is not dangerous!

== test
Priya | neutral | So this is my last box.
Marcus | sadness | The flat feels so empty already.
Priya | neutral | I'm only moving two streets away.
Felix | joy | Can we still have pizza on Fridays?
Priya | joy | Every single Friday. I promise.
Theo | neutral | I'll help you carry that.
"""

CSV_COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
               "Utterance_ID", "Season", "Episode", "StartTime", "EndTime"]
PROSODY_COLUMNS = ["split", "Dialogue_ID", "Utterance_ID", "speaker", "emotion", "voice", "pitch",
                   "rate", "amplitude", "target_f0_hz", "pitch_level", "loudness_level"]
SPLITS = ("train", "dev", "test")
LEVELS = ("low", "mid", "high")


@dataclass
class Line:
    split: str
    dialogue: int
    utterance: int
    speaker: str
    emotion: str
    sentiment: str
    text: str
    target_st: float = 0.0  # intended F0 (semitones re 27.5 Hz), after gap widening
    target_db: float = 0.0  # intended loudness offset (dB re a neutral line), after gap widening
    rate: int = 0
    pitch_level: str = ""
    loudness_level: str = ""


def parse_script(script: str = SCRIPT) -> list[Line]:
    lines: list[Line] = []
    next_dialogue = dict.fromkeys(SPLITS, 0)
    split, dialogue, utt = None, -1, 0
    for raw in script.strip().splitlines():
        if not raw.strip():
            continue
        if raw.startswith("=="):
            split = raw[2:].strip()
            dialogue, utt = next_dialogue[split], 0
            next_dialogue[split] += 1
            continue
        speaker, label, text = (part.strip() for part in raw.split("|"))
        emotion = label.rstrip("+-")
        sentiment = {"+": "positive", "-": "negative"}[label[-1]] if emotion == "surprise" else SENTIMENT[emotion]
        if speaker not in CHARACTERS or emotion not in EMOTION_PROSODY:
            raise ValueError(f"bad script line: {raw!r}")
        lines.append(Line(split, dialogue, utt, speaker, emotion, sentiment, text))
        utt += 1
    return lines


# ----------------------------------------------------------------------------------------------
# Synthesis and measurement
# ----------------------------------------------------------------------------------------------
def espeak(text: str, voice: str, pitch: int, rate: int, amplitude: int) -> np.ndarray:
    """espeak-ng's speech, trimmed to PAD_S of silence each side, as int16 at SAMPLE_RATE."""
    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(rate), "-a", str(amplitude), "--stdout", text]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    pad = int(PAD_S * sr)
    x = x[max(loud[0] - pad, 0): loud[-1] + pad]
    y = soxr.resample(x, sr, SAMPLE_RATE)
    return np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)


class Meter:
    """openSMILE eGeMAPSv02 functionals: mean F0 (semitones re 27.5 Hz) and mean loudness."""

    def __init__(self) -> None:
        import opensmile  # only the generator and its check need openSMILE

        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                     feature_level=opensmile.FeatureLevel.Functionals)

    def __call__(self, pcm: np.ndarray) -> tuple[float, float]:
        f = self.smile.process_signal(pcm.astype(np.float32) / 32768, SAMPLE_RATE)
        return float(f["F0semitoneFrom27.5Hz_sma3nz_amean"].iloc[0]), float(f["loudness_sma3_amean"].iloc[0])

    def file(self, path: Path) -> tuple[float, float]:
        f = self.smile.process_file(str(path))
        return float(f["F0semitoneFrom27.5Hz_sma3nz_amean"].iloc[0]), float(f["loudness_sma3_amean"].iloc[0])


CALIBRATION_TEXTS = ["Well, I did not expect to see you here today.", "Are you serious? The whole cake?",
                     "I am so tired of this flat."]
CALIBRATION_PITCHES = [0, 15, 30, 45, 60, 75, 90, 99]


class Calibration:
    """One voice's measured F0 as a function of espeak -p, and its loudness at the reference -a."""

    def __init__(self, voice: str, meter: Meter) -> None:
        points = []
        for p in CALIBRATION_PITCHES:
            f0 = [meter(espeak(t, voice, p, 185, REF_AMPLITUDE))[0] for t in CALIBRATION_TEXTS]
            if min(f0) > 0:  # below ~20 st openSMILE loses the pitch of the 8 kHz signal
                points.append((p, float(np.mean(f0))))
        self.pitches = np.array([p for p, _ in points], dtype=float)
        self.semitones = np.maximum.accumulate([st for _, st in points])
        self.loudness = float(np.mean([meter(espeak(t, voice, 50, 185, REF_AMPLITUDE))[1]
                                       for t in CALIBRATION_TEXTS]))

    def st_at(self, pitch: float) -> float:
        return float(np.interp(pitch, self.pitches, self.semitones))

    def pitch_for(self, st: float) -> int:
        return int(np.clip(round(float(np.interp(st, self.semitones, self.pitches))), 0, 99))


def target_loudness(db: float) -> float:
    """openSMILE loudness of a line whose amplitude is `db` above a neutral line."""
    return REF_LOUDNESS * 10 ** (GAMMA * db / 20)


def render(text: str, cal: Calibration, voice: str, target_st: float, db: float, rate: int,
           meter: Meter, rounds: int = 3) -> tuple[np.ndarray, int, int]:
    """Speak `text`, steering -p and -a until openSMILE measures the intended F0 and loudness.

    The calibration gives the first guess; the text itself moves F0 and loudness by a semitone or
    a few dB (vowels, question intonation), which the correction rounds take out.
    """
    loud_target = target_loudness(db)
    pitch = cal.pitch_for(target_st)
    amp = REF_AMPLITUDE * (loud_target / cal.loudness) ** (1 / GAMMA)
    for _ in range(rounds):
        amp = int(np.clip(round(amp), 5, 200))
        pcm = espeak(text, voice, pitch, rate, amp)
        st, loud = meter(pcm)
        new_pitch = pitch
        if st > 0 and abs(st - target_st) > 0.3:  # st == 0: no voiced frame found, keep -p
            new_pitch = cal.pitch_for(cal.st_at(pitch) + target_st - st)
        new_amp = int(np.clip(round(amp * (loud_target / loud) ** (1 / GAMMA)), 5, 200))
        if new_pitch == pitch and abs(np.log(loud / loud_target)) < 0.04:
            break
        pitch, amp = new_pitch, new_amp
    return pcm, pitch, amp


# ----------------------------------------------------------------------------------------------
# Sitcom
# ----------------------------------------------------------------------------------------------
def cut_levels(values: np.ndarray) -> np.ndarray:
    """0/1/2 for the bottom 30%, middle 40% and top 30% of `values` by rank."""
    order = np.argsort(values, kind="stable")
    n = len(values)
    level = np.empty(n, dtype=int)
    low, high = round(LEVEL_CUTS[0] * n), round(LEVEL_CUTS[1] * n)
    level[order[:low]], level[order[low:high]], level[order[high:]] = 0, 1, 2
    return level


def plan_prosody(lines: list[Line], rng: np.random.Generator) -> None:
    """Intended F0, loudness and rate per line: character + emotion + jitter, then levels."""
    st, db = np.empty(len(lines)), np.empty(len(lines))
    for i, line in enumerate(lines):
        voice = CHARACTERS[line.speaker]
        d_st, d_db, wpm = EMOTION_PROSODY[line.emotion]
        st[i] = voice.base_st + d_st + rng.uniform(-JITTER_ST, JITTER_ST)
        db[i] = voice.loud_db + d_db + rng.uniform(-JITTER_DB, JITTER_DB)
        line.rate = int(round(wpm * voice.rate * (1 + rng.uniform(-JITTER_RATE, JITTER_RATE))))
    pitch_level, loud_level = cut_levels(st), cut_levels(db)
    # widen the gaps between bins so that small measurement errors do not cross a boundary
    st += GAP_ST * (pitch_level - 1)
    db += GAP_DB * (loud_level - 1)
    for i, line in enumerate(lines):
        line.target_st, line.target_db = float(st[i]), float(db[i])
        line.pitch_level, line.loudness_level = LEVELS[pitch_level[i]], LEVELS[loud_level[i]]


def clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_wav(path: Path, pcm: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), pcm, SAMPLE_RATE, subtype="PCM_16")


def build_sitcom(meter: Meter, calibrations: dict[str, Calibration]) -> list[Line]:
    rng = np.random.default_rng(SEED)
    lines = parse_script()
    plan_prosody(lines, rng)
    if SITCOM.exists():
        shutil.rmtree(SITCOM)
    rows = {split: [] for split in SPLITS}
    prosody = []
    start = end = 0.0
    episode: tuple[int, int] = (1, 1)
    for line in lines:
        if line.utterance == 0:  # a new scene somewhere in a random episode
            episode = (int(rng.integers(1, 4)), int(rng.integers(1, 13)))
            end = float(rng.uniform(60, 1260))
        voice = CHARACTERS[line.speaker].voice
        pcm, pitch, amp = render(line.text, calibrations[voice], voice, line.target_st, line.target_db,
                                 line.rate, meter)
        write_wav(SITCOM / "audio" / line.split / f"dia{line.dialogue}_utt{line.utterance}.wav", pcm)
        start = end + float(rng.uniform(0.2, 0.9))  # a short pause between turns
        end = start + len(pcm) / SAMPLE_RATE
        split_rows = rows[line.split]
        split_rows.append([len(split_rows) + 1, line.text, line.speaker, line.emotion, line.sentiment,
                           line.dialogue, line.utterance, *episode, clock(start), clock(end)])
        prosody.append([line.split, line.dialogue, line.utterance, line.speaker, line.emotion, voice,
                        pitch, line.rate, amp, f"{27.5 * 2 ** (line.target_st / 12):.1f}",
                        line.pitch_level, line.loudness_level])
    for split in SPLITS:
        write_csv(SITCOM / f"{split}_sent_emo.csv", CSV_COLUMNS, rows[split])
    write_csv(SITCOM / "prosody.csv", PROSODY_COLUMNS, prosody)
    return lines


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    # csv's default dialect writes what MELD's files are: CRLF, quotes only where needed
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


# ----------------------------------------------------------------------------------------------
# Acted corpus (TESS layout)
# ----------------------------------------------------------------------------------------------
def build_acted(meter: Meter, calibrations: dict[str, Calibration]) -> int:
    rng = np.random.default_rng(SEED + 1)
    if ACTED.exists():
        shutil.rmtree(ACTED)
    count = 0
    for code, voice in ACTED_SPEAKERS.items():
        for emotion, (d_st, d_db, wpm) in EMOTION_PROSODY.items():
            tess = TESS_EMOTION[emotion]
            for word in ACTED_WORDS:
                st = voice.base_st + d_st + rng.uniform(-JITTER_ST, JITTER_ST)
                db = d_db + rng.uniform(-JITTER_DB, JITTER_DB)
                rate = int(round(wpm * (1 + rng.uniform(-JITTER_RATE, JITTER_RATE))))
                pcm, _, _ = render(f"Say the word {word}.", calibrations[voice.voice], voice.voice,
                                   st, db, rate, meter)
                write_wav(ACTED / f"{code}_{tess}" / f"{code}_{word}_{tess}.wav", pcm)
                count += 1
    return count


# ----------------------------------------------------------------------------------------------
# Check: does binning the measured eGeMAPS values reproduce the intended levels?
# ----------------------------------------------------------------------------------------------
def uar(truth: list[str], pred: list[str]) -> float:
    recalls = [np.mean([p == c for t, p in zip(truth, pred) if t == c]) for c in LEVELS if c in truth]
    return float(np.mean(recalls))


def check_levels(meter: Meter) -> tuple[float, float]:
    with open(SITCOM / "prosody.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    measured = np.array([meter.file(SITCOM / "audio" / r["split"] / f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}.wav")
                         for r in rows])
    result = []
    for col, key in ((0, "pitch_level"), (1, "loudness_level")):
        lo, hi = np.quantile(measured[:, col], LEVEL_CUTS)
        pred = [LEVELS[int(v > lo) + int(v > hi)] for v in measured[:, col]]
        result.append(uar([r[key] for r in rows], pred))
    print(f"level UAR from measured eGeMAPS: pitch {result[0]:.3f}, loudness {result[1]:.3f} (n={len(rows)})")
    return result[0], result[1]


def summary(lines: list[Line]) -> None:
    emotions = list(EMOTION_PROSODY)
    print("split  " + " ".join(f"{e[:7]:>8}" for e in emotions) + "   total")
    for split in SPLITS:
        counts = [sum(1 for x in lines if x.split == split and x.emotion == e) for e in emotions]
        print(f"{split:6} " + " ".join(f"{c:8d}" for c in counts) + f"   {sum(counts):5d}")


def main(argv: list[str]) -> None:
    from podcast import build_podcast  # demo/podcast.py: the unlabelled corpus (MSP-Podcast layout)

    if argv == ["--podcast"]:
        print(f"wrote {build_podcast()} podcast segments")
        return
    meter = Meter()
    if argv == ["--check"]:
        check_levels(meter)
        return
    if argv:
        sys.exit(__doc__)
    t0 = time.time()
    voices = sorted({v.voice for v in CHARACTERS.values()} | {v.voice for v in ACTED_SPEAKERS.values()})
    calibrations = {v: Calibration(v, meter) for v in voices}
    print(f"calibrated {len(voices)} voices in {time.time() - t0:.0f} s")
    lines = build_sitcom(meter, calibrations)
    summary(lines)
    n_acted = build_acted(meter, calibrations)
    print(f"wrote {len(lines)} sitcom lines and {n_acted} acted files in {time.time() - t0:.0f} s")
    print(f"wrote {build_podcast()} podcast segments")
    check_levels(meter)


if __name__ == "__main__":
    main(sys.argv[1:])
