"""The SMS reply grammar (a domain module, pure: no Flask, no SQL): what a resident's text to the
service number means, and how an SMS that asks something says how to answer it.

An SMS that asks something ends with its prompt (``prompt``) and the question's short reference
code (``code_of``: a letter and three digits, e.g. ``K472``; the letters I, O, N, T and Y are left
out so a code never reads as an answer). A reply is read in this order (``read``):

1. ``T``/``TD``/``退订``… stop every SMS to the number, ``订阅``/``DY`` lift it (``sms.reply_intent``);
   a bare ``N`` only when no invitation waits for an answer (then it declines it, ``STOP_UNLESS_ASKED``);
2. ``查询`` (or ``CX``) with or without a code: the status of a matter (``QUERY``);
3. an answer (``ANSWER``), optionally with the code before or after it (``1 K472``, ``K472Y``): a
   digit, Y/N, 是/否, 附议, 参加/不参加, 满意/基本满意/不满意… (``ANSWERS``); what it means depends on
   the question it answers (``meaning``), the one of the code or else the most recent to the number;
4. a longer text (``MATTER_MIN`` characters, ``MATTER_MIN_CJK`` of them Chinese, or anything after
   建议/反映/点事/报事/投诉): a matter raised by SMS (``MATTER``);
5. anything else: not understood (``UNKNOWN``; one help SMS a day at most).

Texts are compared after NFKC (full-width digits and letters become ASCII), upper-cased, without
spaces, punctuation and the courtesy words residents add (好的, 谢谢, 我, 了…: ``FILLERS``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# -- what a question asks, and how it says so --------------------------------------------------------

SUPPORT = "support"  # co-sign the matter (a community notice about it)
RSVP = "rsvp"  # answer an invitation
RATING = "rating"  # rate a completed task
PICK = "pick"  # co-sign one of the likely duplicates of a matter raised by SMS, by its digit
STATUS = "status"  # the receipt of a matter raised by SMS: its number, for 查询
KINDS = (SUPPORT, RSVP, RATING, PICK, STATUS)
ANSWERABLE = (SUPPORT, RSVP, RATING, PICK)  # a bare answer goes to the newest question of these
MAX_PICKS = 2  # duplicates offered in a receipt (each title shortened to PICK_TITLE characters)
PICK_TITLE = 12

CODE_LETTERS = "ABCDEFGHJKLMPQRSUVWXZ"  # no I/O (read as 1/0), no N/T/Y (answers, stop words)
_CODE = rf"[{CODE_LETTERS}]\d{{3}}"


def code_of(question_id: str) -> str:
    """The question's reference code, derived from its id (a redelivered event gives the same)."""
    digest = int.from_bytes(hashlib.sha256(question_id.encode()).digest()[:8], "big")
    return f"{CODE_LETTERS[digest % len(CODE_LETTERS)]}{digest // len(CODE_LETTERS) % 1000:03d}"


def _short(title: str) -> str:
    return title if len(title) <= PICK_TITLE else title[: PICK_TITLE - 1] + "…"


def prompt(kind: str, code: str, options: list[dict] | None = None) -> str:
    """How the SMS asking a question says how to answer it (Chinese, short: it counts in the SMS)."""
    return _prompt(kind, code, options) + "。"


def _prompt(kind: str, code: str, options: list[dict] | None) -> str:
    if kind == SUPPORT:
        return f"回复1附议({code})"
    if kind == RSVP:
        return f"回复Y参加、N不参加({code})"
    if kind == RATING:
        return f"回复1满意 2基本满意 3不满意({code})"
    if kind == PICK:
        offered = "".join(f"{n}“{_short(o['title'])}”" for n, o in enumerate(options or [], start=1))
        return f"编号{code}。相似事项:{offered},回复序号改为附议该事项;回复“查询{code}”查进度"
    if kind == STATUS:
        return f"编号{code},回复“查询{code}”查进度"
    raise ValueError(f"unknown question kind {kind!r}")


# -- reading a reply -----------------------------------------------------------------------------------

STOP, RESUME, QUERY, ANSWER, MATTER, UNKNOWN = "stop", "resume", "query", "answer", "matter", "unknown"
STOP_WORDS = frozenset({"T", "TD", "退订", "退", "取消"})
STOP_UNLESS_ASKED = "N"  # stops the number unless an invitation waits for its answer
RESUME_WORDS = frozenset({"订阅", "DY"})
QUERY_WORDS = ("查询", "查", "CX")
MATTER_WORDS = ("建议", "反映", "点事", "报事", "投诉")
MATTER_MIN, MATTER_MIN_CJK = 10, 6
MATTER_AFTER_WORD = 4  # characters after 建议/反映… that make a matter
TITLE = 30  # a matter raised by SMS: its title, the first sentence up to this

# Answer words, normalised, to the value each kind of question takes from them.
YES, NO = "yes", "no"
YES_WORDS = ("Y", "YES", "是", "是的", "好", "同意", "支持", "附议", "参加", "参与", "去", "来", "会", "能", "确认",
             "愿意", "可以", "行", "OK", "嗯")  # fmt: skip
ANSWERS: dict[str, str] = {
    **dict.fromkeys(YES_WORDS, YES),
    **dict.fromkeys(("N", "NO", "否", "不", "不参加", "不去", "不来", "不能", "不会", "不同意", "不附议", "没空"), NO),
    **dict.fromkeys(("满意", "很满意", "非常满意"), "satisfied"),
    **dict.fromkeys(("基本满意", "一般", "还行", "还可以"), "basically_satisfied"),
    **dict.fromkeys(("不满意", "很不满意", "非常不满意", "差"), "unsatisfied"),
}
RATINGS = {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"}
RSVP_ANSWERS = {YES: "accepted", NO: "declined", "1": "accepted", "2": "declined"}
# What residents add around an answer: dropped before an answer is looked up (longest first).
FILLERS = ("谢谢你们", "谢谢您", "谢谢", "好的", "收到", "您好", "你好", "我要", "我会", "我", "要", "的", "了", "啊",
           "吧", "呢", "哈", "呀")  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """What a text means: its ``action`` (``STOP`` … ``UNKNOWN``), the code it names, and for an
    answer its word (normalised: ``1``, ``YES``…, the ``ANSWERS`` value or a digit)."""

    action: str
    code: str | None = None
    word: str | None = None


def normalise(text: str) -> str:
    """NFKC, upper case, without spaces, punctuation and symbols."""
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text or "")).upper()


def _unfilled(word: str) -> str:
    for filler in FILLERS:
        if word != filler:
            word = word.replace(filler, "")
    return word


def _answer_word(word: str) -> str | None:
    """The answer a (code-less) word gives: a single digit, or an ``ANSWERS`` value; None if none."""
    if word.isdigit() and len(word) == 1:
        return word
    if word in ANSWERS:
        return ANSWERS[word]
    bare = _unfilled(word)
    if bare.isdigit() and len(bare) == 1:
        return bare
    return ANSWERS.get(bare)


def _split_code(word: str) -> tuple[str | None, str]:
    """(the code at the start or end of ``word``, the rest), or (None, word)."""
    found = re.fullmatch(rf"({_CODE})(.*)", word) or re.fullmatch(rf"(.*?)({_CODE})", word)
    if not found:
        return None, word
    if re.fullmatch(_CODE, found.group(1)):
        return found.group(1), found.group(2)
    return found.group(2), found.group(1)


def _cjk(text: str) -> int:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text)


def read(text: str) -> Reply:
    """What a resident's text means (see the module's doc)."""
    word = normalise(text)
    if word in STOP_WORDS:
        return Reply(STOP)
    if word in RESUME_WORDS:
        return Reply(RESUME)
    for query in QUERY_WORDS:
        if word.startswith(query):
            rest = word.removeprefix(query).removeprefix("编号")
            if not rest:
                return Reply(QUERY)
            if re.fullmatch(_CODE, rest):
                return Reply(QUERY, code=rest)
    code, rest = _split_code(word)
    answer = _answer_word(rest)
    if answer is not None:
        return Reply(ANSWER, code=code, word=answer)
    stripped = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))
    for lead in MATTER_WORDS:
        if stripped.startswith(lead) and len(normalise(stripped.removeprefix(lead))) >= MATTER_AFTER_WORD:
            return Reply(MATTER)
    if len(stripped) >= MATTER_MIN and _cjk(stripped) >= MATTER_MIN_CJK:
        return Reply(MATTER)
    return Reply(UNKNOWN)


def meaning(kind: str, word: str, options: int = 0) -> str | int | None:
    """The value an answer word gives a question of ``kind``: ``support`` (yes), an RSVP answer
    (accepted, declined), a rating choice, a pick's index (0-based, among ``options``); None when
    the word does not answer such a question (the resident gets the help SMS)."""
    if kind == SUPPORT:
        return SUPPORT if word in (YES, "1") else None
    if kind == RSVP:
        return RSVP_ANSWERS.get(word)
    if kind == RATING:
        choice = RATINGS.get(word, word)
        return choice if choice in RATINGS.values() else None
    if kind == PICK:
        if word.isdigit() and 1 <= int(word) <= options:
            return int(word) - 1
        return 0 if word == YES and options == 1 else None
    return None


def matter_texts(text: str) -> tuple[str, str]:
    """A matter's title and description from the text raised by SMS: its first line or sentence,
    at most ``TITLE`` characters, and the whole text (without the leading 建议/反映…)."""
    body = " ".join(unicodedata.normalize("NFKC", text or "").split())
    for lead in MATTER_WORDS:
        if body.startswith(lead):
            body = body.removeprefix(lead).lstrip(":, ")
            break
    first = re.split(r"[。!?!?;;]", body, maxsplit=1)[0].strip() or body
    title = first if len(first) <= TITLE else first[: TITLE - 1] + "…"
    return title, body
