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


@pytest.mark.parametrize(("argv", "users", "names"), [
    ([], [], "alice0..alice2"),
    (["--user-prefix", "bob"], [], "bob0..bob2"),
    (["--user", "alice"], ["alice"], "alice"),
    (["--users", "alice, bob"], ["alice", "bob"], "alice, bob"),
])
def test_the_accounts_a_load_uses(argv, users, names):
    args = build_parser().parse_args(["load", "sip:example.com", "--endpoints", "3",
                                      "--count", "3", *argv])
    config = config_from_args(args)
    assert config.users == users
    assert config.user_names() == names
    assert [config.user(i) for i in range(3)] == {
        "alice0..alice2": ["alice0", "alice1", "alice2"], "bob0..bob2": ["bob0", "bob1", "bob2"],
        "alice": ["alice"] * 3, "alice, bob": ["alice", "bob", "alice"]}[names]


def test_user_flags_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["load", "sip:example.com", "--user", "a", "--users", "b"])
    assert "not allowed with" in capsys.readouterr().err


def _result(errors, statuses, succeeded=0):
    from collections import Counter

    from testbed.load import LoadResult

    result = LoadResult("register", "udp", 2)
    result.errors, result.statuses = Counter(errors), Counter(statuses)
    result.failed = sum(errors.values())
    result.succeeded = succeeded
    result.attempted = result.failed + succeeded
    return result


@pytest.mark.parametrize(("errors", "statuses", "succeeded", "says"), [
    ({"auth": 4}, {401: 4}, 0, "rejected the credentials of every REGISTER (users alice0..alice1, 401)"),
    ({"rejected": 4}, {403: 4}, 0, "(users alice0..alice1, 403)"),
    ({"auth": 2, "rejected": 2}, {407: 2, 403: 2}, 0, "403 / 407"),
    ({"auth": 2}, {401: 2}, 2, None),  # some succeeded: not every attempt
    ({"auth": 2, "timeout": 2}, {401: 2}, 0, None),  # not all on authentication
    ({"rejected": 4}, {486: 4}, 0, None),  # rejected, but not for the credentials
])
def test_authentication_refused_only_when_every_attempt_failed_on_it(errors, statuses,
                                                                     succeeded, says):
    from testbed.cli import authentication_refused

    args = build_parser().parse_args(["load", "sip:example.com", "--endpoints", "2",
                                      "--count", "4", "--password", "x"])
    line = authentication_refused(config_from_args(args), _result(errors, statuses, succeeded))
    if says is None:
        assert line is None
    else:
        assert line is not None and says in line and "\n" not in line


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
