"""Packet comments for what the faults did: records paired with captured packets, and
written as pcapng ``opt_comment`` options (tshark reads them in the integration tests)."""

from __future__ import annotations

import struct

from servers.faults import FaultRecord
from testbed.report import write_pcap
from testbed.report._pcap_faults import fault_comments
from testbed.sip import Transport

from .test_pcap import blocks, seg

CLIENT, PROXY, EXTERNAL, SERVER = (("127.0.0.1", 40000), ("127.0.0.9", 5060),
                                   ("127.0.0.9", 41000), ("127.0.0.7", 5060))


def rec(time, action, *, size=0, fault="loss", source=CLIENT, destination=SERVER, **extra):
    return FaultRecord(time, fault, action, Transport.UDP, "to-server", size, source,
                       destination, **extra)


def test_drops_and_delays_are_paired_in_the_order_the_proxy_judged_them():
    a, b = b"A" * 10, b"B" * 10  # the same size: only the order tells them apart
    segments = [seg(1.000, CLIENT, PROXY, a, transport="UDP"),
                seg(1.001, CLIENT, PROXY, b, transport="UDP"),
                seg(1.050, EXTERNAL, SERVER, b, transport="UDP")]
    records = [rec(1.0015, "dropped", size=10, detail="loss pattern [1]"),
               rec(1.0016, "delayed", size=10, fault="latency", delay=0.048)]
    assert fault_comments(segments, records) == {
        0: ["fault loss: dropped (10 bytes to-server): loss pattern [1]"],
        1: ["fault latency: delayed by 48.0 ms (10 bytes to-server)"],
        2: ["fault latency: forwarded 48.0 ms late (delayed)"]}


def test_forwarded_packets_take_their_turn_and_carry_no_comment():
    same = b"R" * 12
    segments = [seg(2.0, CLIENT, PROXY, same, transport="UDP"),
                seg(2.1, CLIENT, PROXY, same, transport="UDP")]
    records = [rec(2.0005, "forwarded", size=12), rec(2.1005, "dropped", size=12)]
    assert list(fault_comments(segments, records)) == [1]


def test_a_nat_marks_the_packets_of_a_binding_while_it_lives():
    segments = [seg(3.0, EXTERNAL, SERVER, b"x", transport="UDP"),
                seg(3.1, SERVER, EXTERNAL, b"y", transport="UDP"),
                seg(9.0, SERVER, EXTERNAL, b"z", transport="UDP")]
    records = [rec(2.999, "new-binding", fault="nat", destination=EXTERNAL,
                   detail="udp binding #1; expires after 0.5 s without outbound traffic"),
               rec(3.6, "expired", fault="nat", destination=EXTERNAL)]
    comments = fault_comments(segments, records)
    assert comments[0] == ["fault nat: source 127.0.0.1:40000 rewritten as 127.0.0.9:41000"]
    assert comments[1][0].startswith("fault nat: to the NAT's external address")
    assert 2 not in comments  # after the binding expired
    plain = [rec(2.999, "new-binding", fault="pbx:5060", destination=EXTERNAL,
                 detail="127.0.0.1:40000 is seen by the server as 127.0.0.9:41000")]
    assert fault_comments(segments, plain) == {}  # a plain relay is no fault


def test_a_kernel_policy_marks_every_packet_sent_to_its_port():
    segments = [seg(4.0, ("127.0.0.1", 0), SERVER, flags="REFUSED"),
                seg(4.1, CLIENT, ("127.0.0.7", 5061), b"q", transport="UDP")]
    record = FaultRecord(3.9, "firewall", "policy", Transport.TCP, destination=SERVER,
                         detail="firewall: the kernel answers every SYN with a RST")
    assert fault_comments(segments, [record]) == {
        0: ["fault firewall: the kernel answers every SYN with a RST"]}


def test_comments_are_written_as_opt_comment_options(tmp_path):
    path = write_pcap(tmp_path / "c.pcapng", [
        seg(1.0, CLIENT, SERVER, b"hello", transport="UDP"),
        seg(1.1, CLIENT, SERVER, b"again", transport="UDP")],
        comments={1: ["fault loss: dropped", "and more ✓"]})
    packets = [body for kind, body in blocks(path.read_bytes()) if kind == 6]
    assert len(packets) == 2
    captured = struct.unpack_from("<I", packets[0], 12)[0]
    assert len(packets[0]) == 20 + captured + (-captured % 4)  # no options
    captured = struct.unpack_from("<I", packets[1], 12)[0]
    options, found = packets[1][20 + captured + (-captured % 4):], []
    while options:
        code, length = struct.unpack_from("<HH", options)
        if code == 0:
            break
        found.append((code, options[4:4 + length].decode()))
        options = options[4 + length + (-length % 4):]
    assert found == [(1, "fault loss: dropped"), (1, "and more ✓")]
