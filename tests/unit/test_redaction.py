"""The one scrubber of personal data in free text (shared.redaction): the formats it hides and the
numbers it leaves alone."""

from __future__ import annotations

import unicodedata

import pytest

from shared.redaction import _FOLD, MARK, redact

M = MARK

HIDDEN = [
    # mobiles, in any spacing, with a country code, in full width
    ("请联系13812345678张三", f"请联系{M}张三"),
    ("电话:138 1234 5678", f"电话:{M}"),
    ("138-1234-5678转告", f"{M}转告"),
    ("138.1234.5678", M),
    ("138 - 1234 - 5678", M),
    ("+86-139-5678-5678", M),
    ("+86 13812345678", M),
    ("+8613812345678", M),
    ("008613812345678", M),
    ("8613812345678", M),
    ("(+86)13812345678", M),
    ("１３８１２３４５６７８", M),
    ("手机：１３８ １２３４ ５６７８。", f"手机：{M}。"),
    ("＋８６－１３９－５６７８－５６７８", M),
    ("tel13812345678", f"tel{M}"),
    ("联系人13912345678、13812345678", f"联系人{M}、{M}"),
    # landlines with an area code, and extensions
    ("座机0566-2123456", f"座机{M}"),
    ("0566 2123456", M),
    ("05662123456", M),
    ("(0566)2123456", M),
    ("（０５６６）２１２３４５６", M),
    ("（0566）2123456", M),
    ("010-12345678", M),
    ("021-62345678", M),
    ("0566-2123456-801", M),
    ("010-12345678转801", M),
    ("010-12345678 ext. 12", M),
    ("0566-2123456分机8", M),
    ("+86 10 12345678", M),
    ("+86-566-2123456", M),
    # resident identity card numbers
    ("身份证34170219800101123X", f"身份证{M}"),
    ("34170219800101123x", M),
    ("341702198001011234", M),
    ("341702 19800101 123X", M),
    ("３４１７０２１９８００１０１１２３Ｘ", M),
    # bank card numbers (Luhn)
    ("卡号6222021234567890128", f"卡号{M}"),
    ("6222 0212 3456 7890 128", M),
    ("4111111111111111", M),
    # e-mail addresses
    ("邮箱zhangsan@example.com谢谢", f"邮箱{M}谢谢"),
    ("li.si+community@mail.ahcz.gov.cn", M),
    ("ｚｈａｎｇｓａｎ＠ｑｑ．ｃｏｍ", M),
    ("zhangsan＠qq.com", M),
    ("13812345678@qq.com", M),
    # QQ numbers and WeChat ids after their keyword (the keyword stays)
    ("QQ:12345678", f"QQ:{M}"),
    ("QQ号：12345678", f"QQ号：{M}"),
    ("qq 1234567890", f"qq {M}"),
    ("加微信zhangsan_88", f"加微信{M}"),
    ("微信号：ab-cd_123", f"微信号：{M}"),
    ("vx: zhangsan88", f"vx: {M}"),
    ("WeChat:John_Doe1", f"WeChat:{M}"),
    # several kinds in one text
    (
        "开水炉扰民,联系人电话13912345678,座机0566-2345678,身份证34170219800101123X,邮箱a.b@qq.com",
        f"开水炉扰民,联系人电话{M},座机{M},身份证{M},邮箱{M}",
    ),
]

KEPT = [
    "2024-05-13 08:30",
    "2024年5月13日14:00-16:30",
    "2026-12-18前完成40个",
    "20240513",
    "经费12000元,已使用8500.50元",
    "第3次协商,共1381人参加",
    "社区代码341702001001",
    "110101001001",
    "服务热线400-123-4567或800-820-8820",
    "12345市民热线,报警110",
    "本地号码2123456",
    "order 213812341234999",  # runs into more digits: not a phone number
    "1381234567",  # 10 digits
    "138123456789",  # 12 digits
    "12812345678",  # no mobile starts 12
    "341702198013011234",  # month 13: no identity number, and no card (Luhn)
    "6222021234567890123",  # fails the Luhn check
    "QQ群123456789",  # a group, not a person
    "QQ12345",  # too short
    "微信公众号",
    "微信群abcdefg",
    "wxPython",
    "版本1.38.1234",
    "IP 192.168.1.100",
    "event 3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
    "digest 0123456789abcdef05662123456abcdef0123",
    "message e4d1c5a0-1381-2345-6789-013812345678",
    "张三@社区",  # no address
    "",
]


@pytest.mark.parametrize(("text", "shown"), HIDDEN)
def test_personal_numbers_and_addresses_are_hidden(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize("text", KEPT)
def test_what_is_not_personal_is_left_as_it_is(text):
    assert redact(text) == text


def test_nothing_to_redact_in_none():
    assert redact(None) is None


def test_the_text_around_a_hidden_number_keeps_its_full_width_characters():
    assert redact("（请联系：１３８１２３４５６７８，张三）") == f"（请联系：{M}，张三）"


@pytest.mark.parametrize(("text", "_"), HIDDEN)
def test_redacting_never_lengthens_a_text_and_is_idempotent(text, _):
    once = redact(text)
    assert len(once) <= len(text)
    assert redact(once) == once


def test_full_width_characters_are_folded_as_nfkc_folds_them():
    for code, folded in _FOLD.items():
        if 0xFF01 <= code <= 0xFF5E or code == 0x3000:
            assert unicodedata.normalize("NFKC", chr(code)) == chr(folded)
