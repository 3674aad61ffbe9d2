"""The benchmark's bookkeeping: SIPp statistics parsing, the table, machine info."""

from testbed.bench import (
    REGISTER_UAC,
    REGISTER_UAS,
    markdown,
    read_sipp_stats,
    rows,
    table,
    write_sipp_scenarios,
)

HEADER = "StartTime;LastResetTime;CurrentTime;SuccessfulCall(C);FailedCall(C);Retransmissions(C);"


def stat_line(clock, successful, failed=0, retransmissions=0):
    stamp = f"2026-01-01\t00:00:00.000000\t{clock:.6f}"
    return f"{stamp};{stamp};{stamp};{successful};{failed};{retransmissions};"


def test_sipp_rate_is_taken_over_the_measured_window(tmp_path):
    path = tmp_path / "stat.csv"
    lines = [HEADER, stat_line(100.0, 0), stat_line(101.0, 900), stat_line(102.0, 2000),
             stat_line(104.0, 4000, 1, 7), stat_line(110.0, 4000, 1, 7)]  # after the window
    path.write_text("\n".join(lines) + "\n")
    run = read_sipp_stats(path, seconds=4.0)
    assert run.successful == 4000 and run.failed == 1 and run.retransmissions == 7
    assert run.seconds == 4.0 and run.rate == 1000.0 and not run.error


def test_sipp_statistics_problems_are_reported_not_raised(tmp_path):
    assert read_sipp_stats(tmp_path / "missing.csv", 4.0).error.startswith("no statistics")
    short = tmp_path / "short.csv"
    short.write_text(HEADER + "\n" + stat_line(1.0, 0) + "\n")
    assert read_sipp_stats(short, 4.0).error == "too few statistics samples"


def test_sipp_scenarios_and_users(tmp_path):
    paths = write_sipp_scenarios(tmp_path, 3)
    assert paths["users"].read_text() == "SEQUENTIAL\nalice0\nalice1\nalice2\n"
    assert paths["uac"].read_text() == REGISTER_UAC and "[field0]" in REGISTER_UAC
    assert '<recv request="REGISTER" />' in REGISTER_UAS


DATA = {
    "machine": {"date": "2026-01-01T00:00:00+00:00", "cpu_model": "CPU", "cores": 2,
                "python": "3.11.7", "twisted": "26.10.0"},
    "anchors": {"sipp_uac_to_uas": {"UDP": 74300, "TLS": 51000},
                "kamailio_registrar": {"UDP": 21500, "TCP": 20200},
                "kamailio_kib_per_tcp_endpoint": 17},
    "phases": {
        "parse": {"REGISTER": 30.5, "200 OK": 28.25},
        "client": {"UDP": {"rate": 2000.0}, "TLS": {"rate": 1530.0}},
        "sipp": {"UDP": {"ours": {"rate": 2000.0}, "sipp": {"rate": 10000.0}, "ratio": 0.2,
                         "target": 0.5}},
        "registrar": {"UDP": {"ours": {"rate": 3000.0}, "kamailio": {"rate": 6000.0},
                              "ratio": 0.5, "target": 0.5},
                      "TCP": {"ours": {"rate": 2020.0}, "kamailio": None,
                              "ratio_to_anchor": 0.1}},
        "dns": {"rate": 2100.0},
        "memory": {"TCP": {"1000": {"kib_per_endpoint": 8.04}}},
    },
    "notes": ["Kamailio not installed"],
}


def test_table_rows_with_ratios_and_targets():
    figures = {row[0]: row[1:] for row in rows(DATA)}
    assert figures["parse_message, REGISTER (µs/message)"][0] == "30.5"
    assert figures["REGISTER/s our client -> SIPp UAS, UDP"] == (
        "2,000", "SIPp UAC 10,000", "0.20x", ">= 0.5x not met")
    assert figures["REGISTER/s SIPp UAC -> our registrar, UDP"][2:] == ("0.50x", ">= 0.5x met")
    assert figures["REGISTER/s SIPp UAC -> our registrar, TCP"][1:] == (
        "Kamailio 20,200 (anchor)", "0.10x", "(not same run)")
    assert figures["REGISTER/s our client -> our registrar, TLS"] == (
        "1,530", "SIPp->SIPp TLS 51,000 (anchor)", "", "")
    assert figures["KiB per registered TCP endpoint, 1,000 endpoints"][0] == "8.0"
    text = table(DATA)
    assert text.splitlines()[0].startswith("Benchmarks 2026-01-01") and "note: Kamailio" in text
    assert markdown(DATA).count("\n") == len(rows(DATA)) + 1


def test_machine_info_names_what_the_figures_need():
    from testbed.bench import machine_info

    info = machine_info()
    for key in ("date", "cpu_model", "cores", "python", "twisted", "openssl"):
        assert info[key]
