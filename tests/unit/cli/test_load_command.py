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
    (["--endpoints", "4", "--count", "5", "--workers", "2", "--cluster", "auto"],
     "with --cluster give --workers-per-node"),
    (["--endpoints", "4", "--count", "5", "--workers-per-node", "2"], "needs --cluster"),
    (["--endpoints", "4", "--count", "5", "--dashboard"], "give --workers K"),
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


def test_ray_and_prometheus_flags():
    args = build_parser().parse_args(
        ["load", "sip:example.com", "--count", "5", "--endpoints", "4", "--cluster",
         "ray://head", "--workers-per-node", "2", "--prometheus", "9108"])
    config_from_args(args)
    assert (args.cluster, args.workers_per_node, args.prometheus) == (
        "ray://head", 2, ("0.0.0.0", 9108))
    args = build_parser().parse_args(["load", "sip:example.com", "--prometheus",
                                      "127.0.0.1:0"])
    assert args.prometheus == ("127.0.0.1", 0)


def test_bad_cluster_or_metrics_address_is_a_usage_error(capsys):
    for argv in (["--cluster", "head"], ["--prometheus", "x"], ["--prometheus", "a:70000"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["load", "sip:example.com", *argv])
    err = capsys.readouterr().err
    assert "cluster address must be auto" in err and "expected [HOST:]PORT" in err
