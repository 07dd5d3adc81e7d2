"""The demo's unlabelled speech corpus: ten episodes of an original chat podcast, in MSP-Podcast's layout.

    python demo/generate.py --podcast   # regenerate demo/podcast only (espeak-ng, ~1 min)

demo/podcast/Audios/DEMO-PODCAST_<episode>_<segment>.ogg    8 kHz mono Opus (size budget)
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
== 0007 | en-gb-x-rp+f4 | en-us+m2
A + Happy Friday! This is Good News, the show about nice things.
B + Wow, we have so many happy stories this week.
A + A listener won a baking contest with her lemon cake.
B + Yay! That is brilliant. She must be thrilled.
A + Another listener says his new neighbours are so helpful.
B + Helpful neighbours are a gift. Truly.
A - Not all news is good. A listener's cat died on Monday.
B - Oh, I am so sorry. That is heartbreaking.
A - She says she cannot stop crying.
B - Crying is fine. Grief hurts, and that is okay.
A + Her friends cooked for her all week. That is beautiful.
B + Kind friends are the real heroes.
A 0 Next, a message about a wedding in June.
B + I loved my sister's wedding. It was so romantic.
A - This listener hates weddings. He finds them stressful.
B - Ugh, speeches and dancing. I understand.
A 0 He asks how to say no politely.
B 0 Thank the couple and send a card.
A + Thanks for that. Simple and kind.
B + I promise it works every time.
A 0 A short message about a lost wallet.
B - Losing a wallet is the worst.
A + A stranger found it and posted it back with a note.
B + What a lovely person. That makes me so happy.
A 0 That is all the news for today.
B + Have a peaceful weekend, everyone.
A 0 The show is recorded on Thursdays.
B 0 You can send stories by email.
A - We cannot read every story on air, sadly.
B + But we read them all. Thanks for writing.

== 0008 | en-us+f1 | en-gb-scotland+m5
A 0 This is Fix It, the repair show.
B 0 Today we have questions about things that break.
A - A listener's washing machine is broken again.
B - Again? That is so annoying.
A - The door is stuck and the water will not drain.
B 0 Check the filter at the bottom first.
A - He says the filter is full of disgusting grey slime.
B - Ugh. That is gross, but it is normal.
A + He cleaned it and the machine works. Great news.
B + A clean filter fixes half of all problems.
A - Next, a fridge that is making a horrible noise.
B - A loud fridge is the worst at night.
A 0 Pull it away from the wall and look at the fan.
B + That usually helps. Nice and easy.
A - A listener cut her hand fixing a shelf.
B - Ouch. Please be careful with tools.
A 0 Wear gloves and use the right screws.
B 0 Heavy shelves need wall plugs.
A - My shelf fell down last year. Books everywhere.
B - That must have been a scary noise.
A + The new shelf is strong. I am very proud of it.
B + Well done. You are a real hero.
A - One message says the smoke alarm beeps every night.
B 0 That means the battery is low.
A 0 Change the battery and test the button.
B + Problem solved. Thanks for the question.
A 0 Next week we answer questions about bikes.
B + I love fixing bikes. It is so satisfying.
A - Punctures are the worst, though.
B + Not with a good pump. See you next week.

== 0009 | en-029+m1 | en-gb-x-gbclan+f1
A 0 Welcome to Night In, a show about films and food.
B + I am so happy to be back. I missed this.
A 0 This week we watched a horror film.
B - I hate horror films. They scare me too much.
A - I screamed twice and could not sleep.
B - That sounds awful. Never again.
A + Then we watched a romantic comedy. Much better.
B + I loved it. The ending was so sweet.
A 0 The film is two hours long.
B 0 It is based on a short novel.
A - The critics said the middle was boring.
B 0 The middle is slow, but the ending is fine.
A + The music was beautiful, I have to say.
B + I am sure it will win an award.
A 0 Now, food for a night in.
B + Homemade pizza is the best choice.
A - Shop pizza is usually worse than it looks.
B - And it is often cold in the middle.
A 0 Make the dough an hour before the film.
B 0 Use tomatoes, cheese and a little oil.
A - Last time I burned the pizza and the alarm went off.
B - Oh no. That is a very loud dinner.
A + The second pizza was perfect, luckily.
B + Perfect pizza and a good film. Wonderful evening.
A 0 Next week we watch an old western.
B - I am not sure I will like it.
A + Give it a chance. You might love it.
B + Okay, I promise to try.
A 0 The film list is on our website.
B + Enjoy your night in, everyone.

== 0010 | en-gb-x-rp+f2 | en-us-nyc+m2
A 0 This is Keeping Well, a show about health at home.
B + I feel great today, which is a good start.
A - I was sick all weekend with a cold.
B - Poor you. A cold is miserable.
A - My throat hurt and I felt worse every day.
B 0 Drink water and rest as much as you can.
A + I am fine now, thank goodness.
B + Glad to hear it. You sound much better.
A 0 Our topic today is sleep.
B - I sleep badly when I am stressed.
A - Noise from the street keeps me awake.
B 0 Earplugs and a dark room can help.
A + Earplugs changed my life. I sleep so well now.
B + That is great. Good sleep makes everything easier.
A 0 Next, a question about walking.
B 0 Experts suggest a short walk every day.
A + A walk in the park is so peaceful.
B + I love the fresh air in the morning.
A - A listener says she is too tired to exercise.
B - Feeling tired all the time is hard.
A 0 Start with ten minutes and add a little each week.
B + Small steps work. I respect that approach.
A - Some people feel guilty when they skip a day.
B 0 Skipping a day is normal. Just start again.
A + Our listeners are so kind to each other.
B + That is the best part of this show.
A 0 Next time we talk about cooking healthy meals.
B + Thanks for listening. Look after yourselves.
A - And please, no more colds this winter.
B + We promise to stay well.
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


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:   # CRC-32, polynomial 0x04C11DB7, not reflected, initial 0 (the Ogg page checksum)
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def fix_ogg_serial(path: Path, serial: int) -> None:
    """libsndfile gives each Ogg stream a random serial number: set a fixed one (and each page's checksum)
    so that regenerating the corpus writes byte-identical files."""
    data = bytearray(path.read_bytes())
    pos = 0
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS":
            raise ValueError(f"{path}: no Ogg page at byte {pos}")
        segments = data[pos + 26]
        size = 27 + segments + sum(data[pos + 27:pos + 27 + segments])
        data[pos + 14:pos + 18] = serial.to_bytes(4, "little")
        data[pos + 22:pos + 26] = bytes(4)
        data[pos + 22:pos + 26] = _ogg_crc(bytes(data[pos:pos + size])).to_bytes(4, "little")
        pos += size
    path.write_bytes(bytes(data))


def build_podcast() -> int:
    """Rewrite demo/podcast from the script; deterministic (espeak-ng and Opus are; the Ogg serial is fixed)."""
    segments = parse_script()
    shutil.rmtree(PODCAST, ignore_errors=True)
    for sub in ("Audios", "Transcripts", "Labels"):
        (PODCAST / sub).mkdir(parents=True)
    for seg in segments:
        pcm = espeak(seg["text"], seg["voice"])
        # Opus (a speech codec, ~10 kbit/s at this setting) keeps a segment within one 4 KiB block
        audio = PODCAST / "Audios" / f"{seg['stem']}.ogg"
        sf.write(str(audio), pcm, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=1.0)
        fix_ogg_serial(audio, 20250530)
        (PODCAST / "Transcripts" / f"{seg['stem']}.txt").write_text(seg["text"] + "\n", encoding="utf-8")
    with open(PODCAST / "Labels" / "labels_consensus.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["FileName", "IntendedSentiment"])
        writer.writerows([f"{seg['stem']}.ogg", seg["sentiment"]] for seg in segments)
    return len(segments)
