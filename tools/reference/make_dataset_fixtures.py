#!/usr/bin/env python3
"""make_dataset_fixtures.py: small files in each layout bertd's dataset readers take, written
for tests/consumer/test_dataset.c (which asserts their exact examples, labels and lines).

    python3 tools/reference/make_dataset_fixtures.py      (standard library only)

Writes tests/fixtures/datasets/ (the exact content is below; nothing is read from a public set):
  jointbert/   the JointBERT layout (intent_label.txt, slot_label.txt, {train,dev,test}/{seq.in,
               seq.out,label}): ATIS-like flights, an intent and a tag missing from the label
               lists in dev (read as UNK and counted), lines ending in spaces and runs of
               whitespace in test (as SNIPS has), accented and CJK words
  news.csv     AG News' layout (label,title,description): quoted fields with commas, doubled
               quotes, literal backslashes and "#36;", a line break inside quotes, 12 rows
  logs_structured.csv  loghub's *_structured.csv layout (LineId,...,Content,EventId,
               EventTemplate): 8 HDFS-like lines, 3 event ids
  records.jsonl  classification records with a text pair, an integer label, a list label, a
               \\u escape and a C1 control character inside a text
  corpus.txt   a pre-training corpus: documents separated by blank lines, one sentence a line
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "datasets")

INTENTS = "UNK\nflight\nairfare\nground_service\n"
SLOTS = ("PAD\nUNK\nO\nB-fromloc.city_name\nI-fromloc.city_name\nB-toloc.city_name\n"
         "I-toloc.city_name\nB-depart_date.day_name\nB-airline_name\n")
SPLITS = {
    "train": [
        ("i want to fly from baltimore to dallas round trip",
         "O O O O O B-fromloc.city_name O B-toloc.city_name O O", "flight"),
        ("how much is a ticket from san francisco to new york on monday",
         "O O O O O O B-fromloc.city_name I-fromloc.city_name O B-toloc.city_name "
         "I-toloc.city_name O B-depart_date.day_name", "airfare"),
        ("ground transportation in zürich", "O O O B-toloc.city_name", "ground_service"),
        ("delta flights from 東京 to são paulo",
         "B-airline_name O O B-fromloc.city_name O B-toloc.city_name I-toloc.city_name",
         "flight"),
    ],
    "dev": [
        ("show me the cheapest fare to denver", "O O O O O O B-toloc.city_name", "airfare"),
        ("what meals are served on united", "O O O O O B-airline_name.code", "meal"),
    ],
    "test": [
        ("fly   from boston to   kraków ", "O O B-fromloc.city_name O B-toloc.city_name ",
         "flight"),
        ("\tlimousine service at denver", "O O O B-toloc.city_name", "ground_service"),
        ("fares on friday", "O O B-depart_date.day_name", "airfare"),
    ],
}

NEWS = (
    "label,title,description\n"
    "3,Fears for pension after talks,Unions representing workers at Turner   Newall say they "
    "are 'disappointed' after talks with stricken parent firm.\n"
    "4,\"Private team sets launch date, at last\",\"SPACE.com - TORONTO, Canada -- A second\\"
    "team of rocketeers competing for the  #36;10 million prize\"\n"
    "2,Zürich wins the cup,\"The club's first title since 1981; fans sang \"\"olé\"\" all "
    "night.\"\n"
    "1,Rain floods the valley,\"Schools stay closed,\n"
    "roads too.\"\n"
    "3,Stocks end higher,Shares rose 2% on Friday.\n"
    "4,\"New chip, new \"\"rules\"\"\",A faster chip \\$199 for developers.\n"
    "2,,A description without a title.\n"
    "1,Talks resume in Geneva,\n"
    "3,Oil falls,\"Crude fell 3% to  #36;61 a barrel.\"\n"
    "4,東京 start-up raises funds,A Tokyo company raised 2 billion yen.\n"
    "2,Final score 3-2,The home side won 3-2 in extra time.\n"
    "1,Summit ends,Leaders agreed on a plan.\n"
)

LOGS = (
    "LineId,Date,Time,Pid,Level,Component,Content,EventId,EventTemplate\n"
    "1,081109,203615,148,INFO,dfs.DataNode$PacketResponder,PacketResponder 1 for block "
    "blk_38865049064139660 terminating,E10,PacketResponder <*> for block blk_<*> terminating\n"
    "2,081109,203807,222,INFO,dfs.DataNode$PacketResponder,PacketResponder 0 for block "
    "blk_-6952295868487656571 terminating,E10,PacketResponder <*> for block blk_<*> terminating\n"
    "3,081109,204005,35,INFO,dfs.FSNamesystem,\"BLOCK* NameSystem.addStoredBlock: blockMap "
    "updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864\",E6,"
    "\"BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to blk_<*> size <*>\"\n"
    "4,081109,204015,308,INFO,dfs.DataNode$PacketResponder,PacketResponder 2 for block "
    "blk_8229193803249955061 terminating,E10,PacketResponder <*> for block blk_<*> terminating\n"
    "5,081109,204106,329,INFO,dfs.DataNode$PacketResponder,Received block "
    "blk_-6670958622368987959 of size 67108864 from /10.251.43.115,E11,Received block blk_<*> "
    "of size <*> from /<*>\n"
    "6,081109,204132,26,INFO,dfs.FSNamesystem,\"BLOCK* NameSystem.addStoredBlock: blockMap "
    "updated: 10.251.43.115:50010 is added to blk_3050920587428079149 size 67108864\",E6,"
    "\"BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to blk_<*> size <*>\"\n"
    "7,081109,204324,34,INFO,dfs.DataNode$PacketResponder,Received block "
    "blk_-5704899712662113150 of size 67108864 from /10.251.91.229,E11,Received block blk_<*> "
    "of size <*> from /<*>\n"
    "8,081109,204453,34,INFO,dfs.DataNode$PacketResponder,PacketResponder 1 for block "
    "blk_-5704899712662113150 terminating,E10,PacketResponder <*> for block blk_<*> terminating\n"
)

RECORDS = (
    '{"text": "where is my order", "q": "A-10293", "label": "order_status", "tags": ["x"]}\n'
    '{"text": "refund for the cr\\u00e8me br\\u00fbl\\u00e9e kit", "q": "", "label": 7}\n'
    "\n"
    '{"text": "nel\\u0085inside", "q": "?", "label": ["refund", "order_status"]}\n'
    '{"text": "\\u6771\\u4eac  delivery \\ud83d\\ude00", "q": "when", "label": "order_status"}\n'
)

CORPUS = (
    "The parcel left the warehouse on Monday.\n"
    "It reached the regional hub a day later.\n"
    "\n"
    "  Café orders spike on Fridays.  \n"
    "\n"
    "\n"
    "東京 is the capital of Japan.\n"
    "Its metro moves millions a day.\n"
    "Trains run every few minutes."
)


def write(rel, content):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(content)


def main():
    write("jointbert/intent_label.txt", INTENTS)
    write("jointbert/slot_label.txt", SLOTS)
    for split, rows in SPLITS.items():
        write("jointbert/%s/seq.in" % split, "".join(r[0] + "\n" for r in rows))
        write("jointbert/%s/seq.out" % split, "".join(r[1] + "\n" for r in rows))
        write("jointbert/%s/label" % split, "".join(r[2] + "\n" for r in rows))
    write("news.csv", NEWS)
    write("logs_structured.csv", LOGS)
    write("records.jsonl", RECORDS)
    write("corpus.txt", CORPUS)
    print("wrote %s" % os.path.relpath(OUT, ROOT))


if __name__ == "__main__":
    sys.exit(main())
