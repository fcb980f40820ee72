#!/usr/bin/env python3
"""make_texts.py: the texts bertd's tests run on, written for them (no public dataset needed).

Writes tests/fixtures/texts/ (standard library only; deterministic: the same files every run):
  edge.jsonl        hand-written edge cases (below, in this file): many scripts, accents and
                    combining marks, CJK, Thai, Arabic, emoji with ZWJ sequences and skin tones,
                    every C0 and C1 control character and NUL inside words, zero-width and
                    format characters, whitespace of every kind, punctuation runs, numbers,
                    URLs, words over 100 chars, and texts of 512+ word pieces
  synthetic.jsonl   SYNTHETIC_COUNT seeded utterances, log lines and news-like sentences from
                    templates; one in eight carries control, zero-width or format characters
  utterances.jsonl  UTTERANCE_COUNT seeded customer-service utterances (2 to ~20 words, at most
                    UTTERANCE_CHARS characters, some with accents, CJK or emoji, none with
                    control characters): the records of tests/kafka/daemon_test.py
Each line is one JSON object {"text": ...} written with ASCII escapes, so NUL and every control
character survive any editor or diff; the C tests read them with jansson's JSON_ALLOW_NUL.

A held-out set (texts no committed fixture has seen) for a parity check by hand:
    python3 tools/reference/make_texts.py --seed 2024 --synthetic-only --out DIR
writes DIR/synthetic.jsonl from another seed; make_tokenizer_fixtures.py --texts and
make_minilm_fixtures.py --texts compare bertd with transformers on it.
"""
import argparse
import json
import os
import random
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "texts")
SEED = 13
SYNTHETIC_COUNT = 1500
UTTERANCE_COUNT = 5000
UTTERANCE_CHARS = 110

# ---- hand-written edge cases ----
EDGE = [
    "Hello, world! How are you?",
    "",
    " ",
    "   \t  \n ",
    "!!!",
    "...???!!!,,,;;;:::",
    "?!.,;:'\"()[]{}<>-_=+*&^%$#@~`|\\/",
    "wait... what?!?! no way!!!1!",
    "$5 50% #hash @user a+b=c ^_^ `code` ~tilde {braces} |pipe| back\\slash",
    "3.14 1,000,000 -42 +7 1e-9 0x1F 007 12:30pm 2024-02-29T23:59:59Z",
    "call +1 (555) 010-9999 or +44 20 7946 0958, ext. 42",
    "https://example.com/path/to/page?a=b&c=d#frag user.name+tag@example.org",
    "ftp://files.example.net:2121/pub/data_v2.tar.gz and www.example.co.uk/a-b_c",
    "/var/log/syslog:42 C:\\Windows\\System32\\drivers blk_-6952295868487656571",
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
    "blk_38865049064139660 terminating",
    "2024-05-01 12:00:01,337 ERROR [main] o.a.k.c.NetworkClient - Connection to node -1 "
    "(localhost/127.0.0.1:9092) could not be established.",
    "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 "
    "euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
    "hi, I ordered a jacket 2 weeks ago (order #A-10293) and it still hasn't arrived :(",
    "can u cancel my subscription pls?? I've been charged twice this month!!",
    "My package says 'delivered' but it's not here... what do I do?",
    "我爱北京天安门",
    "日本語のテキストと漢字、カタカナとひらがな。",
    "안녕하세요 세계 한국어 문장입니다",
    "BERT模型很好用, 对吧? 是的!",
    "𠀀𪚲 \uF900\uFA10 ⺀ 〇 㐀 䶵 𫝀",
    "สวัสดีครับ ผมต้องการคืนสินค้า",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "Привет мир! Ёлка и ёжик.",
    "ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ ς σ Σ",
    "İstanbul İSTANBUL ıi Iİ",
    "ß ẞ ǅ ǆ ﬀ ﬁ ﬃ ŉ",
    "Café naïve façade résumé Crème brûlée",
    "ÀÉÎÕÜ àéîõü Ñandú Øresund Łódź Ærøskøbing Šđčćž",
    "Nguyễn Thị Minh Khai, Hà Nội, Việt Nam",
    "e\u0301 cafe\u0301 a\u0300\u0301b \u0301start",
    "\u0301",
    "\u0301\u0302\u0303",
    "x \u0308 y",
    "Z\u0351\u0352\u0357\u0358a\u0300\u0301\u0302l\u0323\u0324g\u0325o\u0334\u0335",
    "\u093f\u0940 lone vowel signs \u0e31\u0e34",
    "I ❤️ NY 😀🎉 👍🏽 👨‍👩‍👧",
    "🥰 🩰 🫠 🤣 🏳️‍🌈 🧑🏾‍💻 🇫🇷🇯🇵",
    "1️⃣ #️⃣ ©️ ™️",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom \u2060wj",
    "\u200b",
    "\ufeffleading bom",
    "\u202eright-to-left override\u202c and \u2066isolate\u2069",
    "\u180ev\u200esoft\u00adhyphen\u00ad",
    "a\u00a0b\u3000c\u2003d\u1680e\u202ff\u205fg\u2009h\u200ai",
    "line\u2028sep\u2029para \u0085nel \x0bvt\x0cff",
    "\ufffdreplacement char\ufffd",
    "\ue000private \U000f0000x \U000e0001tag \U000e0067",
    "\ufe0fvs \U000e0100vs",
    "∑∫√∞ ≤≥ → ← ©®™ ° ± × ÷",
    "€£¥₹ ¢ ₿ ₽ ₩",
    "ＡＢＣ１２３！ ｶﾀｶﾅ",
    "½ ² ㈱ ℃ Ⅻ ⑳",
    "“smart quotes” ‘single’ «guillemets» „low“ — em – en … ellipsis",
    "[CLS] hello [SEP] world [MASK] [PAD] [UNK]",
    "x[MASK]y [[MASK]] [MASK [SEP][SEP] [UNK]nown [mask]",
    "a" * 101,
    "x " + "b" * 100 + " y",
    "x " + "c" * 150 + " y",
    "é" * 120,
    "e\u0301" * 80,
    "pneumonoultramicroscopicsilicovolcanoconiosis"
    "supercalifragilisticexpialidociousantidisestablishmentarianism",
    "Ⅻ" * 60 + " " + "İ" * 70,
    "日本" * 120,
    "😀" * 110,
    # NUL and the C0 / C1 control characters inside words and between them
    "a\0b",
    "\0",
    "\0\0 \0x",
    "nul\0in\0the\0middle of a sentence",
    "a\x01c\x7fd\x1be",
    "bell\x07 tab\tsep back\x08space",
    "\x1c\x1d\x1e\x1f seps",
    "cr\rlf\ncrlf\r\nend",
    "del\x7f\x7f\x7fend",
    "c1 \x80\x81\x82\x83\x84 \x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f",
    "c1 \x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f end",
    "Caf\x8e\x9f\u0301e refund\x85please",
]


def control_texts():
    """Every C0 control (NUL included), DEL and every C1 control, each alone, inside a word,
    between words and at both ends of a text: the class each gets (whitespace, control,
    neither) decides splits and offsets."""
    out = []
    for c in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        ch = chr(c)
        out.append(ch)
        out.append("order" + ch + "status")
        out.append("where is" + ch + " my parcel " + ch + ch + "?")
        out.append(ch + "Refund é" + ch + "日本" + ch)
    return out


def long_texts(rng):
    """Texts longer than BERT's 512 word pieces (truncated by both sides alike)."""
    words = ("the customer asked whether the replacement order could be shipped before friday "
             "because the original parcel was damaged in transit and the tracking number "
             "stopped updating after it left the regional warehouse").split()
    a = " ".join(rng.choice(words) for _ in range(700))
    b = " ".join("%s%d" % (rng.choice(words), rng.randrange(1000)) for _ in range(300))
    c = "".join(rng.choice(["日本語", "テキスト", "北京", "、", "。"]) for _ in range(400))
    return [a, b, c, a + " 😀 " + c]


# ---- seeded templates ----
FIRST = ["Anna", "José", "Zoë", "Björn", "François", "Łukasz", "Søren", "Chloé", "Mateo",
         "Aoife", "Priya", "Nguyễn", "Dvořák", "Ömer", "Ana-María", "王伟", "田中", "Kim",
         "O'Brien", "Renée"]
CITY = ["Boston", "São Paulo", "Zürich", "Kraków", "Montréal", "東京", "Reykjavík", "Düsseldorf",
        "New York", "Québec", "Málaga", "北京", "Chicago", "Göteborg", "Lyon", "Denver"]
PRODUCT = ["jacket", "phone case", "coffee maker", "running shoes", "laptop charger",
           "wireless headphones", "crème brûlée kit", "yoga mat", "smart watch", "desk lamp",
           "sofa cover", "Wi-Fi router", "4K monitor", "kids' backpack", "USB-C cable"]
MONEY = ["$19.99", "€49.50", "£120", "¥3000", "$1,299.00", "12.50 EUR", "CHF 80", "₹999"]
EMOJI = ["🙂", "😡", "👍🏽", "🙏", "😢", "🎉", "👨‍👩‍👧", "❤️", "🤷‍♀️"]
WHEN = ["yesterday", "last week", "two weeks ago", "on Monday", "on 3/14", "this morning",
        "on 2024-01-05", "a month ago", "on Friday night"]

UTTERANCE = [
    "where is my order",
    "track order {order}",
    "I want a refund for my {product}",
    "my {product} arrived broken {emoji}",
    "can you cancel order {order} please",
    "hi, I ordered a {product} {when} and it still hasn't arrived",
    "how do I reset my password",
    "I was charged {money} twice for the same {product}!!",
    "please change my delivery address to {city}",
    "is the {product} available in blue?",
    "hello this is {name}, my account is locked after the update",
    "the courier left my parcel in {city} instead of at home {emoji}",
    "do you ship to {city}?",
    "I'd like to return the {product} I bought {when}, it doesn't fit",
    "why was my card declined? I have enough money on it",
    "can I talk to a human",
    "the app keeps crashing when I open my order history",
    "my discount code SAVE{n} doesn't work at checkout",
    "I never received the confirmation email for order {order}",
    "when will the {product} be back in stock",
    "{name} here. I paid {money} {when} but the order still says pending, can someone "
    "check what happened and let me know if I need to pay again or wait",
    "thanks {name}, that fixed it {emoji}",
    "could you send an invoice for order {order} to my company in {city}",
    "I moved from {city} to {city2}, how do I update my billing address and will my "
    "subscription renewal {when} go to the old card",
    "order {order} was delivered {when} but the box was empty, the seal was torn and the "
    "{product} is missing; I have photos of the package and the label",
]

LOG = [
    "{date} {time},{ms} INFO dfs.DataNode$PacketResponder: Received block blk_{blk} of size "
    "{size} from /10.{a}.{b}.{c}",
    "{date} {time},{ms} WARN dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap "
    "updated: 10.{a}.{b}.{c}:50010 is added to blk_{blk} size {size}",
    "{mon} {day} {time} combo sshd(pam_unix)[{pid}]: authentication failure; logname= uid=0 "
    "euid=0 tty=NODEVssh ruser= rhost={a}.{b}.{c}.{a2}",
    "{date}T{time}.{ms}Z ERROR [worker-{n}] c.e.orders.PaymentService - charge failed for "
    "order {order}: card_declined (code={n2})",
    "[{date} {time}] GET /api/v2/orders/{order}?lang=fr HTTP/1.1 {status} {size} \"-\" "
    "\"Mozilla/5.0 (X11; Linux x86_64)\"",
    "kernel: [{n}.{ms}] usb 1-{n2}: new high-speed USB device number {n2} using xhci_hcd",
]

NEWS = [
    "{company} shares rose {pct}% on {weekday} after the company reported quarterly revenue "
    "of {money} million, beating analysts' estimates.",
    "Officials in {city} said on {weekday} that the new metro line would open in {year}, two "
    "years later than planned.",
    "The {team} beat {team2} {s1}-{s2} in {city} to reach the final for the first time since "
    "{year}.",
    "Researchers at the University of {city} have built a battery that charges in {n} minutes, "
    "according to a study published in Nature.",
    "{company} (NASDAQ: {ticker}) agreed to buy {company2} for about {money} billion in cash "
    "and stock, the companies said.",
    "Heavy rain flooded parts of {city} overnight; {n} people were evacuated and schools stay "
    "closed until {weekday}.",
]
COMPANY = ["Acme Corp", "Globex", "Initech", "Umbrella Holdings", "Société Générale Tech",
           "Müller & Söhne AG", "Sony", "Tata Consultancy", "Nestlé"]
TEAM = ["Red Sox", "Real Madrid", "Bayern München", "All Blacks", "Lakers", "FC Zürich"]

NOISE = ["\0", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x85",
         "\x9f", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u2028", "\ufffd", "\r", "\t",
         "\u0301", "\u3000"]


def fill(rng, template):
    v = dict(
        order="%s-%05d" % (rng.choice("ABCXZ"), rng.randrange(100000)),
        product=rng.choice(PRODUCT), emoji=rng.choice(EMOJI), money=rng.choice(MONEY),
        city=rng.choice(CITY), city2=rng.choice(CITY), name=rng.choice(FIRST),
        when=rng.choice(WHEN), n=rng.randrange(1, 99), n2=rng.randrange(1, 9),
        date="%04d-%02d-%02d" % (rng.randrange(2008, 2026), rng.randrange(1, 13),
                                 rng.randrange(1, 29)),
        time="%02d:%02d:%02d" % (rng.randrange(24), rng.randrange(60), rng.randrange(60)),
        ms="%03d" % rng.randrange(1000), blk=rng.randrange(-2**62, 2**62),
        size=rng.randrange(1, 2**27), a=rng.randrange(256), b=rng.randrange(256),
        c=rng.randrange(256), a2=rng.randrange(256), pid=rng.randrange(1000, 40000),
        mon=rng.choice(["Jan", "Jun", "Jul", "Dec"]), day=rng.randrange(1, 29),
        status=rng.choice([200, 201, 304, 404, 500]), pct=rng.randrange(1, 40),
        weekday=rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        year=rng.randrange(1950, 2031), company=rng.choice(COMPANY),
        company2=rng.choice(COMPANY), team=rng.choice(TEAM), team2=rng.choice(TEAM),
        s1=rng.randrange(6), s2=rng.randrange(6),
        ticker="".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)))
    return template.format(**v)


def utterance(rng):
    t = fill(rng, rng.choice(UTTERANCE))
    r = rng.random()
    if r < 0.15:
        t = t.lower()
    elif r < 0.2:
        t = t.capitalize() + "?"
    if rng.random() < 0.15:  # a second sentence: longer records
        t += ". " + fill(rng, rng.choice(UTTERANCE))
    return t


def short_utterance(rng):
    """An utterance of at most UTTERANCE_CHARS characters: a Kafka record that fits the tiny
    test model's max_length (128 pieces, most words spelled out letter by letter) whole."""
    while True:
        t = utterance(rng)
        if len(t) <= UTTERANCE_CHARS:
            return t


def synthetic(rng, n):
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            t = utterance(rng)
        elif kind == 1:
            t = fill(rng, rng.choice(LOG))
        else:
            t = fill(rng, rng.choice(NEWS))
        if rng.random() < 0.125:
            for _ in range(rng.randrange(1, 4)):
                k = rng.randrange(len(t) + 1)
                t = t[:k] + rng.choice(NOISE) + t[k:]
        out.append(t)
    return out


def write(path, texts):
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=True) + "\n")
    print("%s: %d texts" % (os.path.relpath(path, ROOT), len(texts)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--synthetic-only", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    if not args.synthetic_only:
        write(os.path.join(args.out, "edge.jsonl"), EDGE + control_texts() + long_texts(rng))
    write(os.path.join(args.out, "synthetic.jsonl"), synthetic(rng, SYNTHETIC_COUNT))
    if not args.synthetic_only:
        urng = random.Random(args.seed + 1)
        write(os.path.join(args.out, "utterances.jsonl"),
              [short_utterance(urng) for _ in range(UTTERANCE_COUNT)])


if __name__ == "__main__":
    sys.exit(main())
