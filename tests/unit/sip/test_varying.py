"""Cutting a text around its varying values (the shapes of the lazy scanners)."""

from testbed.sip._varying import cut, kinds_of

PREFIXES = (";branch=", ";tag=", "\r\nCall-ID: ")
OPTIONAL = frozenset(("\r\nCall-ID: ",))
TEXT = "Via: x;branch=b1;rport\r\nFrom: <sip:a@b>;tag=t1\r\nCall-ID: c1\r\nCSeq: 1 R"


def test_cut_alternates_text_and_values_in_their_order():
    parts = cut(TEXT, PREFIXES, OPTIONAL)
    assert parts == ["Via: x;branch=", "b1", ";rport\r\nFrom: <sip:a@b>;tag=", "t1",
                     "\r\nCall-ID: ", "c1", "\r\nCSeq: 1 R"]
    assert "".join(parts) == TEXT
    assert kinds_of(parts, PREFIXES) == {";branch=": 1, ";tag=": 3, "\r\nCall-ID: ": 5}


def test_same_shape_for_other_values_another_for_other_text():
    def shape(text: str) -> str:
        parts = cut(text, PREFIXES, OPTIONAL)
        assert parts is not None
        return "\x00".join(parts[::2])

    other = TEXT.replace("b1", "zz9").replace("t1", "q").replace("c1", "x@y")
    assert shape(other) == shape(TEXT)
    assert shape(TEXT.replace("rport", "rport=5")) != shape(TEXT)


def test_a_value_ends_at_its_delimiter_or_the_end_of_the_line():
    parts = cut("a;tag=x>y;branch=b,c\r\nCall-ID: id with spaces ", PREFIXES, OPTIONAL)
    assert parts is not None
    assert parts[1::2] == ["x", "b", "id with spaces "]


def test_no_shape_for_a_prefix_twice_a_missing_one_or_one_inside_another():
    assert cut(TEXT + ";tag=t2", PREFIXES, OPTIONAL) is None
    assert cut(TEXT.replace(";tag=t1", ""), PREFIXES, OPTIONAL) is None
    assert cut(TEXT.replace("\r\nCall-ID: c1", ""), PREFIXES, OPTIONAL) is not None
    inside = "\r\nCall-ID: x;tag=y\r\nVia: ;branch=b"
    assert cut(inside, PREFIXES, OPTIONAL) is None
    assert kinds_of(["a;branch=", "1", "b;branch=", "2", ""], PREFIXES) is None
