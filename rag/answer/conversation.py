"""Follow-up questions: rewrite "他原来在哪个单位工作？" from the conversation.

A follow-up leans on the previous turn through a pronoun (他/她/它/该…/这个…)
or by leaving out its subject. We rewrite it before retrieval, so that the
retriever and the answerer see a self-contained question:

- a personal pronoun becomes the person the previous turn was about: the
  previous answer's short answer when it named a person, else the first
  person name in the previous question;
- 该/这个/那个 + noun, or 这里/那里/当地, becomes the place or organisation of
  the previous question;
- a question with no content word of its own gets the previous question's
  subject prepended.

History items may be Gradio messages ({"role", "content"} with content a
string or a list of {"type": "text", "text"} parts) or (user, assistant) pairs.
"""

from __future__ import annotations

import re

from rag.answer.question import content_terms
from rag.text import CJK_CHARS, CJK_RUN, named_spans, names

_PERSON_PRONOUN = re.compile(r"(他们|她们|他|她)(?!人)")
_THING_PRONOUN = re.compile(r"(该|这个|那个|此|这|那)(村|县|市|镇|乡|社区|街道|小区|公司|单位|项目|工程|企业|合作社|车站|站)")
_PLACE_PRONOUN = re.compile(r"这里|那里|当地|该地")
_IT = re.compile(r"它")


# What is read of a history, whoever sends it: a follow-up leans on the last turns only, and a
# client can send anything (a 1 MB turn kept jieba busy for minutes; 5,000 nested lists overflowed
# the stack). Older turns, longer texts and deeper nesting are left out.
MAX_TURNS = 6
MAX_TURN_CHARS = 2000
MAX_DEPTH = 4


def _text(content) -> str:
    """The text of a message's content (str, parts, dicts), at most MAX_TURN_CHARS, nesting cut off."""
    out: list[str] = []
    size = 0
    stack = [(content, 0)]
    while stack and size < MAX_TURN_CHARS:
        item, depth = stack.pop()
        if isinstance(item, str):
            out.append(item[: MAX_TURN_CHARS - size])
            size += len(out[-1])
        elif depth >= MAX_DEPTH:
            continue
        elif isinstance(item, (list, tuple)):
            stack.extend((p, depth + 1) for p in reversed(item[:MAX_TURNS * 4]))
        elif isinstance(item, dict):
            stack.append((item.get("text", item.get("content", "")), depth + 1))
    return "".join(out)


def turns(history) -> list[tuple[str, str]]:
    """Normalise a history into (role, text) pairs, oldest first: the last MAX_TURNS turns, each cut."""
    out: list[tuple[str, str]] = []
    items = history[-MAX_TURNS * 2 :] if isinstance(history, (list, tuple)) else []
    for item in items:
        if isinstance(item, dict):
            role = item.get("role", "user")
            out.append(("assistant" if role in ("assistant", "bot") else "user", _text(item.get("content", ""))))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, bot = item
            if user:
                out.append(("user", _text(user)))
            if bot:
                out.append(("assistant", _text(bot)))
    return [(r, t) for r, t in out if t.strip()][-MAX_TURNS:]


def _people(text: str) -> list[str]:
    return names(text, ("nr",))


def _places(text: str) -> list[str]:
    """Places and organisations named in a text, in order."""
    return [s for s in named_spans(text) if not re.search(r"哪|什么|这|那", s)]


def _answer_lead(answer: str) -> str:
    """The short answer an answer puts first ("姚欣。…", or "**答案：姚欣**" in the chat UI)."""
    m = re.match(r"\s*\**答案[:：]\s*([^*\n]{1,20})\**", answer) or re.match(r"\s*([^。\[\n]{1,12})。", answer)
    return m.group(1).strip() if m else ""


def resolve_followup(query: str, history: list) -> str:
    """Return a self-contained version of `query` given the conversation so far."""
    past = turns(history)
    last_user = next((t for r, t in reversed(past) if r == "user" and t.strip() != query.strip()), "")
    if not last_user:
        return query
    last_answer = next((t for r, t in reversed(past) if r == "assistant"), "")
    rewritten = query
    if _PERSON_PRONOUN.search(query):
        lead = _answer_lead(last_answer)
        people = ([lead] if lead and _people(lead) or (lead and re.fullmatch(rf"[{CJK_CHARS}]{{2,3}}", lead or "")) else []) + _people(last_user)
        if people:
            rewritten = _PERSON_PRONOUN.sub(people[0], rewritten, count=1)
    thing = _THING_PRONOUN.search(rewritten)
    if thing or _PLACE_PRONOUN.search(rewritten) or _IT.search(rewritten):
        lead = _answer_lead(last_answer)
        places = _places(last_user)
        if lead and (not thing or lead.endswith(thing.group(2))):
            places.insert(0, lead)  # "这个村" after an answer "西马村"
        elif thing:
            places.sort(key=lambda p: not p.endswith(thing.group(2)))
        if places:
            rewritten = _THING_PRONOUN.sub(lambda m: places[0], rewritten, count=1)
            rewritten = _PLACE_PRONOUN.sub(places[0], rewritten, count=1)
            rewritten = _IT.sub(places[0], rewritten, count=1)
    if rewritten == query and _is_elliptic(query):
        subject = (_people(last_user) + _places(last_user))[:1]
        if subject:
            rewritten = subject[0] + rewritten
    return rewritten


def _is_elliptic(query: str) -> bool:
    """A question with no content of its own: "那么哪一年呢？", "还有呢？"."""
    if not CJK_RUN.search(query):
        return False
    # "那么…呢" continues the last question; "那个/那些 + noun" only points at something
    return len(content_terms(query)) == 0 or bool(re.match(r"^(那么|还有|然后|另外|那(?![个些位种家条座名]))", query))
