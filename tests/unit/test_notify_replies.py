"""The SMS reply grammar (``services/notify/replies.py``) on a table of real-looking replies: full-width
digits and letters, spaces and punctuation, courtesy words around an answer, a question's code before
or after it, and what each kind of question takes from the answer."""

from __future__ import annotations

import pytest

from services.notify import replies
from services.notify.replies import ANSWER, MATTER, QUERY, RESUME, STOP, UNKNOWN, Reply


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        # stop and resume, in any case or width
        ("TD", Reply(STOP)), (" td ", Reply(STOP)), ("T", Reply(STOP)), ("退订", Reply(STOP)), ("退订。", Reply(STOP)),
        ("ＴＤ", Reply(STOP)), ("订阅", Reply(RESUME)), ("dy", Reply(RESUME)),
        # digits, half and full width, with spaces and punctuation
        ("1", Reply(ANSWER, word="1")), ("１", Reply(ANSWER, word="1")), (" 1 ", Reply(ANSWER, word="1")),
        ("1。", Reply(ANSWER, word="1")), ("2", Reply(ANSWER, word="2")), ("３", Reply(ANSWER, word="3")),
        # yes and no, and the words residents use for them
        ("Y", Reply(ANSWER, word="yes")), ("y", Reply(ANSWER, word="yes")), ("Ｙ", Reply(ANSWER, word="yes")),
        ("yes", Reply(ANSWER, word="yes")), ("是", Reply(ANSWER, word="yes")), ("是的", Reply(ANSWER, word="yes")),
        ("参加", Reply(ANSWER, word="yes")), ("我参加", Reply(ANSWER, word="yes")),
        ("好的,参加!", Reply(ANSWER, word="yes")), ("附议", Reply(ANSWER, word="yes")),
        ("同意", Reply(ANSWER, word="yes")), ("N", Reply(ANSWER, word="no")), ("n", Reply(ANSWER, word="no")),
        ("不参加", Reply(ANSWER, word="no")), ("不去了", Reply(ANSWER, word="no")), ("否", Reply(ANSWER, word="no")),
        ("1,谢谢", Reply(ANSWER, word="1")), ("好的,谢谢", Reply(ANSWER, word="yes")),
        # ratings in words
        ("满意", Reply(ANSWER, word="satisfied")), ("很满意!", Reply(ANSWER, word="satisfied")),
        ("基本满意", Reply(ANSWER, word="basically_satisfied")), ("不满意", Reply(ANSWER, word="unsatisfied")),
        # a question's code before or after the answer, with or without a space, any case
        ("1 K472", Reply(ANSWER, code="K472", word="1")), ("K472 1", Reply(ANSWER, code="K472", word="1")),
        ("k472y", Reply(ANSWER, code="K472", word="yes")), ("Ｋ４７２　Ｙ", Reply(ANSWER, code="K472", word="yes")),
        ("满意K472", Reply(ANSWER, code="K472", word="satisfied")),
        # status
        ("查询K472", Reply(QUERY, code="K472")), ("查询 k472", Reply(QUERY, code="K472")),
        ("查询编号K472", Reply(QUERY, code="K472")), ("CX K472", Reply(QUERY, code="K472")), ("查询", Reply(QUERY)),
        # matters raised by SMS
        ("红光市场3号楼地下管网堵塞,污水外溢好几天了", Reply(MATTER)), ("反映:路灯不亮了", Reply(MATTER)),
        ("建议 小区增设充电桩", Reply(MATTER)),
        # not understood
        ("", Reply(UNKNOWN)), ("TDD", Reply(UNKNOWN)), ("？？", Reply(UNKNOWN)), ("12", Reply(UNKNOWN)),
        ("收到", Reply(UNKNOWN)), ("asdfgh", Reply(UNKNOWN)), ("K472", Reply(UNKNOWN)), ("建议", Reply(UNKNOWN)),
    ],
)  # fmt: skip
def test_a_reply_is_read_whatever_its_width_spacing_and_courtesy(text, reply):
    assert replies.read(text) == reply


@pytest.mark.parametrize(
    ("kind", "word", "options", "meaning"),
    [
        (replies.SUPPORT, "1", 0, "support"), (replies.SUPPORT, "yes", 0, "support"), (replies.SUPPORT, "2", 0, None),
        (replies.SUPPORT, "no", 0, None),
        (replies.RSVP, "yes", 0, "accepted"), (replies.RSVP, "1", 0, "accepted"), (replies.RSVP, "no", 0, "declined"),
        (replies.RSVP, "2", 0, "declined"), (replies.RSVP, "satisfied", 0, None),
        (replies.RATING, "1", 0, "satisfied"), (replies.RATING, "2", 0, "basically_satisfied"),
        (replies.RATING, "3", 0, "unsatisfied"), (replies.RATING, "unsatisfied", 0, "unsatisfied"),
        (replies.RATING, "4", 0, None), (replies.RATING, "yes", 0, None),
        (replies.PICK, "1", 2, 0), (replies.PICK, "2", 2, 1), (replies.PICK, "3", 2, None),
        (replies.PICK, "yes", 1, 0), (replies.PICK, "yes", 2, None), (replies.STATUS, "1", 0, None),
    ],
)  # fmt: skip
def test_an_answer_means_what_the_question_it_answers_takes_from_it(kind, word, options, meaning):
    assert replies.meaning(kind, word, options) == meaning


def test_a_code_never_reads_as_an_answer_and_is_the_same_for_the_same_question():
    codes = {replies.code_of(f"question-{n}") for n in range(2000)}
    assert len(codes) > 1500  # spread over the letters and digits
    for code in codes:
        assert replies.read(code).action == UNKNOWN  # a code alone answers nothing
        assert replies.read(f"{code} 1") == Reply(ANSWER, code=code, word="1")
        assert replies.read(f"查询{code}") == Reply(QUERY, code=code)
    assert replies.code_of("question-1") == replies.code_of("question-1")


def test_each_prompt_documents_its_answers_in_chinese_with_the_code():
    assert replies.prompt(replies.SUPPORT, "K472") == "回复1附议(K472)。"
    assert replies.prompt(replies.RSVP, "K472") == "回复Y参加、N不参加(K472)。"
    assert replies.prompt(replies.RATING, "K472") == "回复1满意 2基本满意 3不满意(K472)。"
    offered = [
        {"proposal_id": "p-1", "title": "红光市场3号楼地下管网堵塞污水外溢"},
        {"proposal_id": "p-2", "title": "路灯"},
    ]
    assert replies.prompt(replies.PICK, "K472", offered) == (
        "编号K472。相似事项:1“红光市场3号楼地下管网…”2“路灯”,回复序号改为附议该事项;回复“查询K472”查进度。"
    )
    assert replies.prompt(replies.STATUS, "K472") == "编号K472,回复“查询K472”查进度。"


def test_a_matter_raised_by_sms_is_titled_by_its_first_sentence():
    assert replies.matter_texts("反映:红光市场路灯不亮。晚上很黑,老人出行不便") == (
        "红光市场路灯不亮",
        "红光市场路灯不亮。晚上很黑,老人出行不便",
    )
    title, description = replies.matter_texts("小区" * 40)
    assert len(title) == replies.TITLE and title.endswith("…") and description == "小区" * 40
