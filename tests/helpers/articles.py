"""Small articles written for the tests, one per answer shape (no gold question is copied).

A number, a person, a date (taohua), a second village for two-part
questions (qingsong), an open question (qinghe), and two sources that
disagree on a figure (shimen_a / shimen_b).
"""

from pathlib import Path

ARTICLES = {
    "taohua.txt": "桃花溪村修桥记\n\n本报记者 陈明\n\n近年来，桃花溪村党支部书记王春花带领村民修路架桥。"
                  "全村共修建了17座石拱桥，方便了两岸群众出行。村里的文化广场于2021年3月5日正式开放。\n",
    "qingsong.txt": "青松村来了新书记\n\n本报记者 李四\n\n青松村党支部书记由县农业局干部赵立新担任。"
                    "他到任后带领村民种植蓝莓三百亩，村集体收入翻了一番。\n",
    "qinghe.txt": "清河县推进垃圾分类\n\n本报记者 周华\n\n清河县在垃圾分类方面采取了多项措施。"
                  "一是在每个社区设置分类投放点，配备专职督导员。二是建立积分奖励制度，居民分类投放可以兑换生活用品。"
                  "三是组织志愿者入户宣传，发放分类指南两万份。目前，全县生活垃圾回收利用率明显提高。\n",
    "shimen_a.txt": "石门水库扩容工程启动\n\n本报记者 吴刚\n\n石门水库扩容工程总投资1.2亿元，预计明年年底完工。\n",
    "shimen_b.txt": "水利建设提速\n\n本报记者 郑云\n\n据县水利局介绍，石门水库扩容工程总投资1.8亿元，工期两年。\n",
}

# One question per answer kind, and what the answer must show.
KIND_QUESTIONS = {
    "short": ("桃花溪村共修建了多少座石拱桥？", ["17座"]),
    "parts": ("桃花溪村和青松村的党支部书记分别是谁？", ["王春花", "赵立新"]),
    "open": ("清河县的垃圾分类做得怎么样？", ["回收利用率"]),
    "list": ("清河县在垃圾分类方面有哪些做法？", ["分类投放点", "积分奖励"]),
    "conflict": ("石门水库扩容工程总投资是多少？", ["1.2亿", "1.8亿"]),
    "abstained": ("王春花的丈夫在哪家公司工作？", ["资料中没有找到"]),
}


def write_articles(folder: Path) -> Path:
    """The articles as .txt files in a new folder; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
