"""``testbed load``'s flags: to a LoadConfig, and the mistakes they are refused for."""

import pytest

from testbed.cli import build_parser, config_from_args


def test_command_line_to_config():
    args = build_parser().parse_args(
        ["load", "sip:example.com", "--transport", "tcp", "--endpoints", "20", "--rate", "50",
         "--duration", "2s", "--operation", "call", "--workers", "2", "--t1", "100ms",
         "--connections", "per-endpoint", "--dns", "127.0.0.5:53"])
    c = config_from_args(args)
    assert (c.transport, c.endpoints, c.rate, c.duration, c.operation) == (
        "tcp", 20, 50.0, 2.0, "call")
    assert c.timers.t1 == 0.1 and c.dns == [("127.0.0.5", 53)]
    assert c.connections == "per-endpoint"


@pytest.mark.parametrize(("argv", "message"), [
    (["--endpoints", "2"], "duration or --count"),
    (["--endpoints", "2", "--count", "5", "--workers", "3"], "exceeds"),
])
def test_command_line_mistakes(argv, message):
    args = build_parser().parse_args(["load", "sip:example.com", *argv])
    with pytest.raises(ValueError, match=message):
        config_from_args(args)


def test_command_line_rejects_bad_numbers(capsys):
    for argv in (["--endpoints", "0"], ["--rate", "-3"], ["--count", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["load", "sip:example.com", *argv])
    assert "positive" in capsys.readouterr().err
