"""The demo's unlabelled speech corpus: six episodes of an original chat podcast, in MSP-Podcast's layout.

    python demo/generate.py --podcast   # regenerate demo/podcast only (espeak-ng, ~1 min)

demo/podcast/Audios/DEMO-PODCAST_<episode>_<segment>.flac   8 kHz mono, 8-bit FLAC (size budget)
demo/podcast/Transcripts/<same stem>.txt                      the text that was spoken (UTF-8)
demo/podcast/Labels/labels_consensus.csv                      the writer's intended sentiment per
    segment, in the place MSP-Podcast keeps its labels. The pipeline ignores it (the corpus is
    treated as unlabelled); docs/pretrain.md uses it to say how good the offline pseudo-labels are.

The lines are written for this project (no quoted text). They talk about everyday flat-share life,
cooking, pets, work and acting, so a text model trained on them can meet the sitcom's vocabulary;
no line of the sitcom is repeated here. Each line is tagged with the sentiment its writer meant:
`+` positive, `-` negative, `0` neutral.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DEMO = Path(__file__).resolve().parent
PODCAST = DEMO / "podcast"
SAMPLE_RATE = 8_000
PAD_S = 0.05
RATE_WPM = 195
SENTIMENT = {"+": "positive", "-": "negative", "0": "neutral"}

# "== <episode> | <voice of host A> | <voice of host B>" starts an episode; lines are "A|B <tag> text".
SCRIPT = """
== 0001 | en-us+f2 | en-gb-x-rp+m2
A + Welcome back to Small Rooms, the podcast about living with other people.
B + I love this show. It is the best part of my week.
A 0 Today we are talking about shared kitchens.
B - Honestly, our kitchen is a disaster most of the time.
A 0 What is the main problem?
B - Nobody washes the pans, and the sink smells awful.
A - That sounds terrible. I would be so annoyed.
B - I am annoyed. I am tired of cleaning up after everyone.
A 0 Do you have a rota on the fridge?
B 0 We have a rota. Nobody reads it.
A + My flatmates are brilliant about it, I have to say.
B + Lucky you. That is wonderful.
A + We cook together on Sundays and it is really fun.
B 0 What do you usually make?
A + A big pot of soup. Everyone loves it.
B - Last week someone ate my leftovers without asking.
A - Oh no, that is so rude.
B - I was furious. I had been looking forward to it all day.
A 0 Did you label the box?
B 0 I wrote my name on the lid.
A - And they still ate it? That is unbelievable.
B + They apologised and bought me dinner, so it ended well.
A + That is a lovely ending, actually.
B 0 The oven is the next question. Ours is very old.
A - Ours broke last month and we waited three weeks for a repair.
B - Three weeks without an oven sounds miserable.

== 0002 | en-gb-scotland+f4 | en-us+m5
A + Hello and welcome to Pet Talk, where we answer your questions.
B + We have so many lovely messages this week. Thank you all.
A 0 Our first question is about a cat who will not eat.
B - That is worrying. A cat that stops eating can be really ill.
A 0 The owner says the cat eats a little in the evening.
B 0 Then it may simply prefer a different food.
A - The owner is scared that something is seriously wrong.
B 0 A quick visit to the vet would settle it.
A + Our second message made me smile.
B + Tell me, I need some good news.
A + A listener's tortoise walked across the whole garden to find her.
B + That is adorable. Tortoises are wonderful creatures.
A 0 They live for a very long time, around eighty years.
B 0 Some live even longer than that.
A - Sadly, our next listener lost her old dog last week.
B - I am so sorry. That is heartbreaking.
A - She says the house feels empty without him.
B - Losing a pet is awful. Grief takes time.
A + She wanted to thank the clinic for being so kind.
B + Kind vets make such a difference. Good for them.
A 0 Next, a question about keeping rabbits indoors.
B 0 Rabbits need space, hay and company.
A - The listener's rabbit keeps chewing the cables.
B - That is dangerous. Please hide the cables right away.
A 0 You can buy plastic covers for them.
B + Great tip. Cheap and easy to fit.

== 0003 | en-us+f5 | en-gb-x-gbclan+m3
A 0 This is Desk Notes, a show about working from home.
B + And I am very glad to be here, as always.
A - My laptop crashed this morning and I lost an hour of work.
B - That is the worst feeling. Did you have a backup?
A - No backup. I am still angry with myself.
B 0 Most programs save a copy every few minutes.
A + I found the copy after lunch. What a relief.
B + Brilliant. Always check the recovery folder.
A 0 Today's topic is noise at home.
B - My neighbour has been drilling for two weeks.
A - That would drive me mad.
B - It is awful. I cannot hear myself think.
A 0 Have you tried headphones?
B + I bought good headphones and they are amazing.
A + Good headphones are worth every penny.
B 0 Another topic is the daily routine.
A 0 I start at nine and stop at five.
B - I never manage that. I work far too late.
A - That is how people burn out. Be careful.
B + You are right. I will try to stop earlier.
A + My favourite part of home working is the short commute.
B + Twelve steps from bed to desk. Perfect.
A - The worst part is feeling lonely some days.
B - Yes, I miss chatting with colleagues.
A + A weekly coffee with a friend helps a lot.
B + That is a lovely idea. I will steal it.

== 0004 | en-gb-x-rp+f3 | en-us-nyc+m4
A + Welcome to Green Plates, the cooking podcast for busy people.
B + Today is pasta day, my favourite day.
A 0 We start with the simplest sauce: tomatoes, garlic and oil.
B 0 Fry the garlic gently for one minute.
A - If you burn the garlic, the whole sauce tastes bitter.
B - I have ruined so many dinners that way.
A + This sauce is cheap, quick and delicious.
B + My flatmates ask for it every week.
A 0 Next, a listener asks about risotto.
B 0 Risotto needs patience and warm stock.
A - My first risotto was a sticky, grey mess.
B - Mine was crunchy in the middle. Horrible.
A + Now it is my proudest dish. Practice works.
B + That is encouraging for everyone at home.
A 0 Add the stock one ladle at a time.
B 0 Stir often, and taste as you go.
A - Someone wrote in to say their pan caught fire.
B - That is frightening. Please keep a lid nearby.
A 0 A lid on the pan stops a small fire quickly.
B + Everyone was safe, and that is what matters.
A 0 Now for dessert: baked apples.
B + Baked apples with cream are wonderful on a cold night.
A 0 Core the apples and fill them with oats and honey.
B 0 Bake them for about forty minutes.
A - The first time I tried, they exploded in the oven.
B + Exploded apples still taste great, to be fair.

== 0005 | en-029+f2 | en-gb-x-gbcwmd+m6
A 0 This is Backstage, a podcast about actors and auditions.
B + I am so excited about today's episode.
A + A listener got her first part in a television advert.
B + Congratulations! That is fantastic news.
A + She says her family watched it ten times.
B + I would watch it ten times too. So proud of her.
A - Our next listener had a very bad audition.
B - Oh dear. What happened?
A - He forgot every line and left the room in tears.
B - That is awful. Everyone has a day like that.
A + The good news is he has another audition next month.
B + Brilliant. He will do much better this time.
A 0 Let us talk about learning lines.
B 0 I read them aloud every morning.
A 0 Some actors record the other parts on their phone.
B + That is a clever trick. It really helps.
A - I get so nervous before I go on stage.
B - Nerves are horrible, but they show that you care.
A 0 Breathing slowly for a minute can calm you down.
B + That works for me every time.
A - Money is the hard part. Most actors have a second job.
B - Waiting for calls that never come is exhausting.
A + But when a call does come, it is the best feeling in the world.
B + Nothing beats that moment.
A 0 A question about agents now.
B 0 An agent finds auditions and handles contracts.

== 0006 | en-us+f3 | en-gb-x-rp+m7
A 0 Welcome to Moving Day, the podcast about changing homes.
B - Moving house is one of the most stressful things you can do.
A - Our listener's van arrived four hours late.
B - Four hours? I would have been so upset.
A - All of his boxes were left on the pavement in the rain.
B - That is a nightmare. Were his things ruined?
A + Luckily everything inside was dry. What a relief.
B + Strong boxes are worth it.
A 0 Let us talk about packing.
B 0 Label every box with the room it belongs in.
A + Pack a box of tea, mugs and biscuits for the first night.
B + Great idea. The first night should be cosy.
A - Saying goodbye to old flatmates is always sad.
B - I cried when I left my first flat.
A + But new neighbours can become great friends.
B + Our new neighbours brought us a cake on day one.
A + That is so kind. What a lovely welcome.
B 0 Meter readings are the boring but important part.
A 0 Take photos of every meter on the day you move.
B - My landlord kept my whole deposit last year.
A - That is unfair. Did you complain?
B + I complained, and I got most of it back.
A + Well done. Keep every receipt and every photo.
B 0 A question about the post now.
A 0 You can ask the post office to forward your letters.
B - I missed a hospital letter because it went to my old flat.
"""


def parse_script(script: str = SCRIPT) -> list[dict]:
    """One dict per segment: stem, voice, sentiment, text."""
    segments, voices, episode, n = [], {}, "", 0
    for raw in script.strip().splitlines():
        if not raw.strip():
            continue
        if raw.startswith("=="):
            episode, voice_a, voice_b = (p.strip() for p in raw[2:].split("|"))
            voices, n = {"A": voice_a, "B": voice_b}, 0
            continue
        host, tag, text = raw[0], raw[2], raw[4:].strip()
        if host not in voices or tag not in SENTIMENT or not text:
            raise ValueError(f"bad podcast line: {raw!r}")
        n += 1
        segments.append({"stem": f"DEMO-PODCAST_{episode}_{n:04d}", "voice": voices[host],
                         "sentiment": SENTIMENT[tag], "text": text})
    return segments


def espeak(text: str, voice: str) -> np.ndarray:
    """espeak-ng's speech trimmed to PAD_S of silence each side, float32 at SAMPLE_RATE."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(RATE_WPM), "--stdout", text]
    x, sr = sf.read(io.BytesIO(subprocess.run(cmd, capture_output=True, check=True).stdout), dtype="float32")
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    pad = int(PAD_S * sr)
    x = x[max(loud[0] - pad, 0): loud[-1] + pad]
    return soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)


def build_podcast() -> int:
    """Rewrite demo/podcast from the script; deterministic (espeak-ng and FLAC encoding are)."""
    segments = parse_script()
    shutil.rmtree(PODCAST, ignore_errors=True)
    for sub in ("Audios", "Transcripts", "Labels"):
        (PODCAST / sub).mkdir(parents=True)
    for seg in segments:
        pcm = espeak(seg["text"], seg["voice"])
        # 8-bit FLAC: a third of 16-bit's size at 8 kHz, still clear speech (the demo's size budget)
        sf.write(str(PODCAST / "Audios" / f"{seg['stem']}.flac"), pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_S8")
        (PODCAST / "Transcripts" / f"{seg['stem']}.txt").write_text(seg["text"] + "\n", encoding="utf-8")
    with open(PODCAST / "Labels" / "labels_consensus.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["FileName", "IntendedSentiment"])
        writer.writerows([f"{seg['stem']}.flac", seg["sentiment"]] for seg in segments)
    return len(segments)
