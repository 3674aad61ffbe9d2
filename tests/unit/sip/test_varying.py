"""Cutting a text around its varying values (the shapes of the lazy scanners)."""

from testbed.sip._varying import Cutter

CUTTER = Cutter((";branch=", ";tag=", "\r\nCall-ID: "), frozenset(("\r\nCall-ID: ",)))
TEXT = "Via: x;branch=b1;rport\r\nFrom: <sip:a@b>;tag=t1\r\nCall-ID: c1\r\nCSeq: 1 R"


def test_cut_gives_texts_and_one_slot_per_prefix_for_each_value():
    parts = CUTTER.cut(TEXT)
    assert parts == ["Via: x", "b1", None, None, ";rport\r\nFrom: <sip:a@b>", None, "t1", None,
                     "", None, None, "c1", "\r\nCSeq: 1 R"]
    assert CUTTER.where(parts) == {";branch=": 1, ";tag=": 6, "\r\nCall-ID: ": 11}
    assert CUTTER.shape(parts) == "Via: x\x00;rport\r\nFrom: <sip:a@b>\x00\x00\r\nCSeq: 1 R"

def test_same_shape_for_other_values_another_for_other_text():
    def shape(text: str) -> str:
        return CUTTER.shape(CUTTER.cut(text))

    other = TEXT.replace("b1", "zz9").replace("t1", "q").replace("c1", "x@y")
    assert shape(other) == shape(TEXT)
    assert shape(TEXT.replace("rport", "rport=5")) != shape(TEXT)

def test_same_texts_with_values_of_other_kinds_are_told_apart_by_where():
    swapped = TEXT.replace(";branch=b1", ";tag=b1").replace(";tag=t1", ";branch=t1")
    parts, other = CUTTER.cut(TEXT), CUTTER.cut(swapped)
    assert CUTTER.shape(parts) == CUTTER.shape(other)
    assert CUTTER.where(other) == {";tag=": 2, ";branch=": 5, "\r\nCall-ID: ": 11}
    assert other[CUTTER.where(parts)[";branch="]] is None  # what a shape checks

def test_a_value_ends_at_its_delimiter_or_the_end_of_the_line():
    parts = CUTTER.cut("a;tag=x>y;branch=b,c\r\nCall-ID: id with spaces ")
    where = CUTTER.where(parts)
    assert where is not None
    assert [parts[where[p]] for p in (";tag=", ";branch=", "\r\nCall-ID: ")] == \
        ["x", "b", "id with spaces "]

def test_no_place_for_a_prefix_twice_or_a_missing_one():
    assert CUTTER.where(CUTTER.cut(TEXT + ";tag=t2")) is None
    assert CUTTER.where(CUTTER.cut(TEXT.replace(";tag=t1", ""))) is None
    assert CUTTER.where(CUTTER.cut(TEXT.replace("\r\nCall-ID: c1", ""))) is not None

def test_a_prefix_inside_a_header_value_is_part_of_that_value():
    parts = CUTTER.cut("\r\nCall-ID: x;tag=y\r\nVia: ;branch=b;tag=t")
    where = CUTTER.where(parts)
    assert where is not None
    assert parts[where["\r\nCall-ID: "]] == "x;tag=y"
    assert (parts[where[";branch="]], parts[where[";tag="]]) == ("b", "t")
