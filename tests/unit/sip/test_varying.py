"""Cutting a text around its varying values (the shapes of the lazy scanners)."""

import pytest

from testbed.sip._varying import Cutter

CALL_ID = "\r\nCall-ID: "
CUTTER = Cutter((";branch=", ";tag=", CALL_ID), frozenset((CALL_ID,)))
TEXT = "Via: x;branch=b1;rport\r\nFrom: <sip:a@b>;tag=t1\r\nCall-ID: c1\r\nCSeq: 1 R"


def values(text: str) -> dict[str, str | None]:
    """Each prefix's value in ``text``, as a shape reads it."""
    where = CUTTER.where(text)
    assert where is not None
    _, parts = CUTTER.cut(text)
    return {prefix: parts[at] for prefix, at in where.items()}


def test_cut_gives_the_shape_and_each_value_in_its_slot():
    shape, parts = CUTTER.cut(TEXT)
    assert shape == "Via: x\x00;rport\r\nFrom: <sip:a@b>\x00\r\n\r\nCSeq: 1 R"
    # the parameters' split (text, branch, tag, ...), then the headers' (text, Call-ID, ...)
    assert parts == ["Via: x", "b1", None, ";rport\r\nFrom: <sip:a@b>", None, "t1",
                     "\r\n\r\nCSeq: 1 R",
                     "Via: x;branch=b1;rport\r\nFrom: <sip:a@b>;tag=t1", "c1", "\r\nCSeq: 1 R"]
    assert CUTTER.where(TEXT) == {";branch=": 1, ";tag=": 5, CALL_ID: 8}
    assert values(TEXT) == {";branch=": "b1", ";tag=": "t1", CALL_ID: "c1"}


def test_same_shape_for_other_values_another_for_other_text():
    def shape(text: str) -> str:
        return CUTTER.cut(text)[0]

    other = TEXT.replace("b1", "zz9").replace("t1", "q").replace("c1", "x@y")
    assert shape(other) == shape(TEXT)
    assert shape(TEXT.replace("rport", "rport=5")) != shape(TEXT)
    assert shape(TEXT.replace(CALL_ID + "c1", "")) != shape(TEXT)  # no Call-ID: other text


def test_same_texts_with_values_of_other_kinds_are_told_apart_by_where():
    swapped = TEXT.replace(";branch=b1", ";tag=b1").replace(";tag=t1", ";branch=t1")
    assert CUTTER.cut(swapped)[0] == CUTTER.cut(TEXT)[0]
    where = CUTTER.where(TEXT)
    assert where is not None
    assert CUTTER.cut(swapped)[1][where[";branch="]] is None  # what a shape checks


def test_a_value_ends_at_its_delimiter_or_the_end_of_the_line():
    assert values("a;tag=x>y;branch=b,c\r\nCall-ID: id with spaces ") == \
        {";tag=": "x", ";branch=": "b", CALL_ID: "id with spaces "}
    assert values("a;branch=b\r\nCall-ID: c\r\nX: ;tag=t") == \
        {";branch=": "b", CALL_ID: "c", ";tag=": "t"}  # a parameter stops at a line end


def test_no_place_for_a_prefix_twice_or_a_missing_one():
    assert CUTTER.where(TEXT + ";tag=t2") is None
    assert CUTTER.where(TEXT + CALL_ID + "c2") is None
    assert CUTTER.where(TEXT.replace(";tag=t1", "")) is None
    assert CUTTER.where(TEXT.replace(CALL_ID + "c1", "")) is not None  # optional


def test_a_parameter_prefix_inside_a_header_value_is_part_of_that_value():
    assert values("\r\nCall-ID: x;tag=y\r\nVia: ;branch=b;tag=t") == \
        {CALL_ID: "x;tag=y", ";branch=": "b", ";tag=": "t"}


def test_every_prefix_names_a_header_or_a_parameter():
    with pytest.raises(ValueError):
        Cutter((";branch=", "Call-ID: "))
