#!/usr/bin/env python3
"""Write the sample corpus shipped in the generated project.

The reviews are original: short sentences written for this template (none is
taken from IMDB) combined by a seeded random generator into whole reviews.
The output is deterministic, so rerunning this script reproduces the
committed file byte for byte (``tests/test_sample_corpus.py`` checks it).

Usage::

    python3 tools/make_sample_corpus.py            # rewrite the committed file
    python3 tools/make_sample_corpus.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

OUTPUT = (
    Path(__file__).resolve().parents[1]
    / "{{cookiecutter.repo_name}}/src/{{cookiecutter.src_package_name}}/sample_data/reviews.jsonl"
)
SEED = 20260127
PER_CLASS = 200
TEST_PER_CLASS = 40

FILMS = [
    "this film", "the movie", "this thriller", "this comedy", "the drama", "this western",
    "the sequel", "this animated feature", "the documentary", "this horror picture",
    "the musical", "this romance", "this war film", "the remake", "this science fiction story",
    "the crime caper", "this family adventure", "the biopic", "this mystery", "the debut feature",
]

OPENINGS = {
    "pos": [
        "I went in with low expectations and {film} won me over in the first ten minutes.",
        "What a pleasant surprise {film} turned out to be.",
        "{Film} is one of the best things I have watched this year.",
        "I have now seen {film} three times and I still love it.",
        "From the opening shot I knew {film} was something special.",
        "{Film} is an absolute joy from start to finish.",
        "My whole family enjoyed {film}, which almost never happens.",
        "I did not expect much from {film}, but it is wonderful.",
        "{Film} is awesome, plain and simple.",
        "Few movies manage what {film} does so easily.",
        "{Film} deserves every bit of praise it has received.",
        "It has been a long time since a movie moved me like {film} did.",
        "I walked out of {film} grinning from ear to ear.",
        "{Film} is a small gem that more people should see.",
        "Honestly, {film} is a masterpiece of its kind.",
        "I caught {film} on a rainy Sunday and it made my week.",
        "{Film} is smart, warm and genuinely funny.",
        "Everyone involved in {film} clearly cared about getting it right.",
        "{Film} kept me on the edge of my seat the whole time.",
        "This is quite simply a great movie.",
        "{Film} is a delight and I recommend it to everyone.",
        "I loved {film} far more than I thought I would.",
        "{Film} is beautifully made and a pleasure to watch.",
        "Within minutes {film} had me completely hooked.",
        "{Film} is the kind of movie that reminds you why you love cinema.",
        "A friend dragged me to {film} and I am so glad she did.",
        "{Film} is fresh, clever and full of heart.",
        "I rarely write reviews, but {film} earned one.",
        "{Film} is an excellent piece of entertainment.",
        "This movie is fantastic in almost every way.",
        "{Film} is thrilling, touching and never lets up.",
        "I was blown away by {film}.",
    ],
    "neg": [
        "I had high hopes for {film} and it let me down badly.",
        "{Film} is one of the worst things I have sat through this year.",
        "I wanted to like {film}, I really did, but it is a mess.",
        "{Film} is a chore to watch from start to finish.",
        "Within ten minutes I was checking my watch during {film}.",
        "{Film} is boring, plain and simple.",
        "What a waste of an evening {film} turned out to be.",
        "I cannot think of a single reason to recommend {film}.",
        "{Film} is a tired, lazy piece of work.",
        "My whole family was bored by {film}, and we agree on nothing.",
        "{Film} is a dull and joyless experience.",
        "I walked out of {film} halfway through and did not regret it.",
        "Nothing in {film} works the way it should.",
        "{Film} is quite possibly the dullest movie I have ever seen.",
        "It is hard to believe anyone signed off on {film}.",
        "I fell asleep twice during {film}.",
        "{Film} is tedious, clumsy and far too long.",
        "Everyone involved in {film} seems to have given up early.",
        "{Film} is an awful film that wastes a decent idea.",
        "This is quite simply a bad movie.",
        "{Film} is a disappointment and I would not recommend it to anyone.",
        "I disliked {film} even more than I expected to.",
        "{Film} is ugly to look at and painful to sit through.",
        "Within minutes {film} had lost me completely.",
        "{Film} is the kind of movie that makes you want a refund.",
        "A friend dragged me to {film} and I still have not forgiven him.",
        "{Film} is stale, predictable and completely flat.",
        "I rarely write reviews, but {film} made me angry enough to.",
        "{Film} is a poor excuse for entertainment.",
        "This movie is terrible in almost every way.",
        "{Film} is slow, confused and never gets going.",
        "I was deeply unimpressed by {film}.",
    ],
}

BODY = {
    "pos": [
        "The lead performance is superb and completely believable.",
        "The cast has wonderful chemistry and every scene crackles.",
        "The script is sharp and the dialogue feels natural.",
        "The story is clever and the twists are well earned.",
        "The cinematography is gorgeous, with shots you want to frame.",
        "The score is beautiful and lifts every big moment.",
        "The pacing is perfect and the two hours fly by.",
        "The jokes land and I laughed out loud more than once.",
        "The action scenes are exciting and easy to follow.",
        "The supporting actors are great, especially the grandmother.",
        "The ending is moving and stayed with me for days.",
        "The characters feel like real people with real problems.",
        "The director handles the quiet moments with great care.",
        "The visual effects are stunning without ever taking over.",
        "The young actor in the main role gives an awesome performance.",
        "Every scene has a purpose and nothing feels wasted.",
        "The villain is genuinely menacing and fun to watch.",
        "The editing is tight and the tension builds beautifully.",
        "The costumes and sets are lovely and full of detail.",
        "The humour is gentle and the emotion is honest.",
        "It is funny, sad and hopeful all at once.",
        "The songs are catchy and I have been humming them all week.",
        "The final act is brilliant and ties everything together.",
        "The story takes a few risks and they all pay off.",
        "The relationship between the two sisters is touching.",
        "I cared about every single character by the end.",
        "The tension in the last half hour is incredible.",
        "The writing respects the audience and never talks down to it.",
        "It looks amazing on a big screen.",
        "The performances are strong across the whole cast.",
        "The mystery is gripping and the solution is satisfying.",
        "The animation is vibrant and full of charm.",
        "The small town setting is captured with real warmth.",
        "The dialogue is witty and quotable.",
        "The film is exciting, and the climax is awesome.",
        "The story is simple but told with a lot of heart.",
        "The whole thing is awesome and wonderfully paced.",
        "Awesome characters, a clever plot and an even better ending.",
        "Most of it is funny, moving and memorable.",
        "The second half is so exciting that I forgot my popcorn.",
    ],
    "neg": [
        "The lead performance is wooden and completely unconvincing.",
        "The cast has no chemistry and every scene falls flat.",
        "The script is clumsy and the dialogue is painful.",
        "The story is silly and the twists make no sense.",
        "The cinematography is murky and hard to look at.",
        "The score is loud and drowns out half the dialogue.",
        "The pacing is sluggish and the two hours feel like four.",
        "The jokes fall flat and nobody in the cinema laughed.",
        "The action scenes are chaotic and impossible to follow.",
        "The supporting actors are wasted on thin, boring roles.",
        "The ending is rushed and makes the whole story pointless.",
        "The characters are cardboard cut-outs with no inner life.",
        "The director seems to have no idea what the film is about.",
        "The visual effects are cheap and look unfinished.",
        "The young actor in the main role is badly miscast.",
        "Whole scenes could be cut and nobody would notice.",
        "The villain is so silly that he is never a threat.",
        "The editing is sloppy and the tension never builds.",
        "The sets look cheap and the costumes look borrowed.",
        "The humour is crude and the emotion feels fake.",
        "It is neither funny nor sad, just boring.",
        "The songs are forgettable and go on far too long.",
        "The final act is a mess that undoes everything before it.",
        "The story plays it safe and goes nowhere.",
        "The relationship at the centre of the film is never believable.",
        "I did not care about a single character by the end.",
        "The last half hour is dull and repetitive.",
        "The writing is lazy and treats the audience like fools.",
        "It looks like it was shot on a phone in a hurry.",
        "The performances are weak across the whole cast.",
        "The mystery is obvious and the solution is a letdown.",
        "The animation is stiff and the colours are drab.",
        "The small town setting is a lifeless backdrop.",
        "The dialogue is stilted and full of clichés.",
        "The plot is boring and the climax is worse.",
        "The story is simple and told without any heart.",
        "The whole thing is boring and painfully slow.",
        "Boring characters, a boring plot and an even more boring ending.",
        "Most of it is long, boring and forgettable.",
        "The second half is so boring that I started reading my phone.",
    ],
}

# A fair review often grants the other side a point: these keep single words
# from deciding a review on their own (a good score in a bad film, and so on).
CONCESSIONS = {
    "pos": [
        "The middle section drags a little, but it is worth the wait.",
        "A couple of scenes are a bit slow, yet it never becomes boring.",
        "The effects are not perfect, but the story more than makes up for it.",
        "Some of the jokes miss, but the ones that land are great.",
        "It starts slowly, then it becomes wonderful.",
        "The poster made it look cheap, but the film itself is excellent.",
    ],
    "neg": [
        "The soundtrack is nice, but it cannot save the film.",
        "A couple of scenes are pretty, yet the rest is dull.",
        "The lead actor tries hard, but the script gives him nothing.",
        "There is one good joke, and the trailer already spoiled it.",
        "It starts well, then it becomes a slog.",
        "The poster looked great, but the film itself is bad.",
    ],
}

CLOSINGS = {
    "pos": [
        "Highly recommended.",
        "I will be watching it again soon.",
        "Go and see it, you will not regret it.",
        "A great night at the movies.",
        "Ten out of ten from me.",
        "It is a must see.",
        "Easily one of my favourites.",
        "I cannot wait to show it to my friends.",
        "Well worth your time.",
        "Bravo to everyone who made it.",
        "An awesome film for the whole family.",
        "I left the cinema smiling.",
        "Do not miss it.",
        "A real treat.",
        "It deserves a much bigger audience.",
        "Simply brilliant.",
        "",
        "",
    ],
    "neg": [
        "Not recommended.",
        "I will not be watching it again.",
        "Skip it, you will not miss anything.",
        "A wasted night at the movies.",
        "Two out of ten, and that is generous.",
        "Avoid it.",
        "Easily one of the worst I have seen.",
        "I would not show it to my worst enemy.",
        "Not worth your time.",
        "I want those two hours back.",
        "A boring film that nobody needs.",
        "I left the cinema annoyed.",
        "Do not bother.",
        "A real disappointment.",
        "It deserves to be forgotten.",
        "Simply awful.",
        "",
        "",
    ],
}

RATINGS = {"pos": [7, 8, 9, 10], "neg": [1, 2, 3, 4]}


def compose(rng: random.Random, label: str) -> str:
    """One review of the given label ("pos" or "neg") from the sentence pools."""
    film = rng.choice(FILMS)
    parts = [rng.choice(OPENINGS[label]).replace("{Film}", film[0].upper() + film[1:])]
    parts[0] = parts[0].replace("{film}", film)
    parts += rng.sample(BODY[label], rng.randint(1, 3))
    if rng.random() < 0.25:
        parts.insert(rng.randint(1, len(parts)), rng.choice(CONCESSIONS[label]))
    closing = rng.choice(CLOSINGS[label])
    if closing:
        parts.append(closing)
    return " ".join(parts)


def build() -> list[dict[str, object]]:
    """Every record of the corpus, in a fixed order (split, label, id)."""
    rng = random.Random(SEED)
    records: list[dict[str, object]] = []
    for label in ("pos", "neg"):
        texts: list[str] = []
        seen: set[str] = set()
        while len(texts) < PER_CLASS:
            text = compose(rng, label)
            if text not in seen:
                seen.add(text)
                texts.append(text)
        for index, text in enumerate(texts):
            split = "test" if index < TEST_PER_CLASS else "train"
            records.append(
                {
                    "id": index if label == "pos" else PER_CLASS + index,
                    "split": split,
                    "label": label,
                    "rating": rng.choice(RATINGS[label]),
                    "text": text,
                }
            )
    records.sort(key=lambda r: (r["split"] != "train", r["label"], r["id"]))
    return records


def render(records: list[dict[str, object]]) -> str:
    """The JSON Lines text of the records."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main(argv: list[str] | None = None) -> int:
    """Write (or, with ``--check``, compare) the committed corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the committed file")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python3 tools/make_sample_corpus.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({text.count(chr(10))} reviews)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
