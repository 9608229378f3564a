"""Every sentence the product says to a person about an answer, in one place: Chinese first, then English.

The library's `Answer` carries codes (its `kind`, its `notices`); the CLI
and the web renderer turn them into words with these tables, so the same
situation reads the same everywhere.
"""

from __future__ import annotations

NOT_FOUND = "资料中没有找到"  # also what the generator is told to write when the passages do not say
NOT_FOUND_REASON = "检索到的文章里没有能回答这个问题的句子。The retrieved articles hold no sentence that answers it."
POSSIBLY_RELATED = "可能相关的段落 possibly related"
SOURCES = "来源 Sources"
ANSWER_LABEL = "答案"
DISAGREE = "资料中的说法不一致 the sources disagree"
ALSO_IN = "亦见 also in"  # the other articles of a passage's near-duplicate group (the same story elsewhere)
ALSO_IN_SHOWN = 5  # at most this many are named; the rest are counted
HEADLINE = "（标题 headline）"  # after a quote that is an article's printed headline, not a body sentence

# Answer.notices: code -> message. `{n}` is filled from Answer.removed_sentences.
NOTICES = {
    "question_cut": "问题过长，只使用了前 {max_chars} 个字符。The question was cut to its first {max_chars} characters.",
    "closest_sentence": "阅读模型只读中文问题；以下是与问题最接近的原句，请核对。"
                        "The reader reads Chinese questions only: this is the closest sentence, please check it.",
    "generated_removed": "已删除 {n} 句无法在所引资料中核实的生成内容。"
                         "{n} generated sentence(s) that the cited passages do not support were removed.",
    "generator_unverified": "生成的回答无法在资料中核实，以下为阅读模型的回答。"
                            "The generated answer could not be verified in the articles; this is the reader's answer.",
    "generator_abstained": "生成模型认为资料中没有答案，以下为阅读模型的回答。"
                           "The generator found no answer in the articles; this is the reader's answer.",
}


def notice_text(code: str, **values) -> str:
    """The message for a notice code (unknown codes are shown as they are)."""
    from rag.retrieval.query import MAX_QUERY_CHARS

    template = NOTICES.get(code)
    return template.format(max_chars=MAX_QUERY_CHARS, **values) if template else code
RELATED_PASSAGES = 3  # passages listed under an abstention, so the reader can judge for themselves
