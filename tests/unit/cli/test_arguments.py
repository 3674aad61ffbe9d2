"""Flags every command shares: durations read by testbed.sip's one parser, SIP URIs."""

import pytest

from testbed.cli import build_parser


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("1.5", 1.5),
                                               ("2min", 120.0)])
def test_durations(text, seconds):
    assert build_parser().parse_args(["serve", "x.yaml", "--for", text]).duration == seconds
    assert build_parser().parse_args(["register", "example.com", "--t1", text]).t1 == seconds


@pytest.mark.parametrize(("text", "words"), [("0", "more than 0"), ("1x", "expected a duration"),
                                             ("soon", "expected a duration")])
def test_bad_durations_are_one_line(text, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["load", "example.com", "--count", "1", "--t1", text])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_uri_without_scheme_is_sip():
    args = build_parser().parse_args(["register", "127.0.0.7:5070", "--transport", "tcp"])
    assert (str(args.uri), args.transport) == ("sip:127.0.0.7:5070", "tcp")
