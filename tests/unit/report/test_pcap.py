"""The pcapng writer, read back with ``struct``: blocks, lengths, checksums, TCP sequence
numbers, the Decryption Secrets Block, and the stream ``testbed serve --report-dir``
writes as it goes. (tshark reads real captures in the integration tests.)"""

import errno
import ipaddress
import struct

import pytest
from twisted.internet.task import Clock

from testbed.report import PcapStream, write_pcap
from testbed.report._streamed import FLUSH_INTERVAL
from testbed.transport import Capture, CapturedSegment

C4, S4 = ("127.0.0.1", 40000), ("127.0.0.7", 5060)
C6, S6 = ("::1", 40001), ("::1", 5061)
KEYS = "CLIENT_RANDOM 00112233 44556677\n"
FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


# -- a reader, by the pcapng specification ---------------------------------------------


def blocks(raw):
    """(type, body) of every block; checks both length fields and the 4-byte alignment."""
    out, at = [], 0
    while at < len(raw):
        kind, length = struct.unpack_from("<II", raw, at)
        assert length % 4 == 0 and length >= 12
        assert struct.unpack_from("<I", raw, at + length - 4)[0] == length
        out.append((kind, raw[at + 8:at + length - 4]))
        at += length
    assert at == len(raw)
    return out


def checksum_ok(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def decode(frame):
    """Ethernet → IP → UDP/TCP, verifying every length and checksum on the way."""
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == 0x0800:
        assert ip[0] == 0x45 and struct.unpack_from("!H", ip, 2)[0] == len(ip)
        assert checksum_ok(ip[:20]), "IPv4 header checksum"
        proto, src, dst, payload = ip[9], ip[12:16], ip[16:20], ip[20:]
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(payload))
    else:
        assert ethertype == 0x86DD and ip[0] >> 4 == 6
        assert struct.unpack_from("!H", ip, 4)[0] == len(ip) - 40
        proto, src, dst, payload = ip[6], ip[8:24], ip[24:40], ip[40:]
        pseudo = src + dst + struct.pack("!I3xB", len(payload), proto)
    assert checksum_ok(pseudo + payload), "UDP/TCP checksum"
    host = lambda packed: str(ipaddress.ip_address(packed))  # noqa: E731
    if proto == 17:
        sport, dport, length, _ = struct.unpack_from("!HHHH", payload)
        assert length == len(payload)
        return {"proto": "UDP", "src": (host(src), sport), "dst": (host(dst), dport),
                "data": payload[8:]}
    assert proto == 6
    sport, dport, seq, ack, offset, flags = struct.unpack_from("!HHIIBB", payload)
    return {"proto": "TCP", "src": (host(src), sport), "dst": (host(dst), dport), "seq": seq,
            "ack": ack, "flags": flags, "data": payload[(offset >> 4) * 4:]}


def read(path):
    raw = path.read_bytes()
    parsed = blocks(raw)
    (shb_type, shb), (idb_type, idb) = parsed[:2]
    assert shb_type == 0x0A0D0D0A and struct.unpack_from("<IHH", shb) == (0x1A2B3C4D, 1, 0)
    assert idb_type == 1 and struct.unpack_from("<H", idb)[0] == 1  # LINKTYPE_ETHERNET
    secrets, packets = [], []
    for kind, body in parsed[2:]:
        if kind == 0x0A:
            secrets_type, length = struct.unpack_from("<II", body)
            secrets.append((secrets_type, body[8:8 + length]))
        else:
            assert kind == 6
            _, high, low, captured, original = struct.unpack_from("<IIIII", body)
            assert captured == original
            packet = decode(body[20:20 + captured])
            packet["time"] = ((high << 32) | low) / 1e6
            packets.append(packet)
    return secrets, packets


def seg(time, src, dst, data=b"", flags="", transport="TCP"):
    return CapturedSegment(time, transport, src, dst, data, flags)


# -- tests -----------------------------------------------------------------------------


def test_udp_datagrams_over_ipv4_and_ipv6(tmp_path):
    path = write_pcap(tmp_path / "c.pcapng", [
        seg(10.5, C4, S4, b"REGISTER sip:x SIP/2.0\r\n\r\n", transport="UDP"),
        seg(10.75, S6, C6, b"odd" * 7, transport="UDP"),  # odd length: checksum padding
    ])
    secrets, packets = read(path)
    assert secrets == [] and not (tmp_path / "keys.log").exists()
    assert [(p["src"], p["dst"], p["data"], p["time"]) for p in packets] == [
        (C4, S4, b"REGISTER sip:x SIP/2.0\r\n\r\n", 10.5), (S6, C6, b"odd" * 7, 10.75)]


def test_decryption_secrets_block_and_keys_file(tmp_path):
    path = write_pcap(tmp_path / "c.pcapng", [], KEYS)
    secrets, packets = read(path)
    assert secrets == [(0x544C534B, KEYS.encode())] and packets == []
    assert (tmp_path / "keys.log").read_text() == KEYS
    # an empty key log: the file is written, no empty block is
    write_pcap(tmp_path / "d.pcapng", [], "")
    assert read(tmp_path / "d.pcapng")[0] == [] and (tmp_path / "keys.log").read_text() == ""


@pytest.mark.parametrize("client, server", [(C4, S4), (C6, S6)])
def test_a_tcp_connection_has_handshake_continuous_sequence_numbers_and_teardown(
        tmp_path, client, server):
    big = bytes(range(256)) * 300  # 76,800 bytes: more than one segment
    path = write_pcap(tmp_path / "c.pcapng", [
        seg(1.0, client, server, flags="SYN"),
        seg(1.1, client, server, b"hello"),
        seg(1.2, server, client, big),
        seg(1.3, client, server, b"bye"),
        seg(1.4, server, client, flags="FIN"),
    ])
    _, packets = read(path)
    flags = [p["flags"] for p in packets]
    assert flags == [SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, PSH | ACK, PSH | ACK,
                     FIN | ACK, FIN | ACK, ACK]
    # the bytes of each direction, reassembled by sequence number, are what was sent
    next_seq = {}
    stream = {client: b"", server: b""}
    for p in packets:
        src, dst = p["src"], p["dst"]
        if p["flags"] & SYN:
            next_seq[src] = p["seq"] + 1
            continue
        assert p["seq"] == next_seq[src], "no gap, no overlap"
        if p["flags"] & ACK and dst in next_seq:
            assert p["ack"] == next_seq[dst], "acknowledges all the peer sent"
        stream[src] += p["data"]
        next_seq[src] += len(p["data"]) + (1 if p["flags"] & FIN else 0)
    assert stream == {client: b"hellobye", server: big}
    assert max(len(p["data"]) for p in packets) <= 65000


def test_bytes_without_a_captured_start_still_get_a_handshake(tmp_path):
    path = write_pcap(tmp_path / "c.pcapng", [seg(1.0, C4, S4, b"x"), seg(2.0, S4, C4,
                                                                         flags="RST")])
    _, packets = read(path)
    assert [p["flags"] for p in packets] == [SYN, SYN | ACK, ACK, PSH | ACK, RST | ACK]
    assert packets[-1]["src"] == S4


def test_refused_and_unanswered_connection_attempts(tmp_path):
    attempt = ("127.0.0.1", 0)
    path = write_pcap(tmp_path / "c.pcapng", [seg(1.0, attempt, S4, flags="REFUSED"),
                                             seg(2.0, attempt, S4, flags="UNANSWERED")])
    _, packets = read(path)
    assert [(p["src"], p["flags"]) for p in packets] == [
        (attempt, SYN), (S4, RST | ACK), (attempt, SYN)]
    assert packets[1]["ack"] == packets[0]["seq"] + 1


def test_the_output_is_deterministic(tmp_path):
    segments = [seg(1.0, C4, S4, flags="SYN"), seg(1.5, C4, S4, b"data"),
                seg(2.0, C4, S4, b"dgram", transport="UDP")]
    a = write_pcap(tmp_path / "a.pcapng", segments, KEYS).read_bytes()
    b = write_pcap(tmp_path / "b.pcapng", segments, KEYS).read_bytes()
    assert a == b


def test_mixed_address_families_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mixed"):
        write_pcap(tmp_path / "c.pcapng", [seg(1.0, C4, S6, b"x", transport="UDP")])


def test_a_comment_goes_into_the_section_header(tmp_path):
    path = write_pcap(tmp_path / "c.pcapng", [], comment="kept the last 10 segments")
    (_, shb), _ = blocks(path.read_bytes())[:2]
    options, at = {}, 16  # after the magic, the version and the section length
    while at < len(shb):
        code, length = struct.unpack_from("<HH", shb, at)
        options[code] = shb[at + 4:at + 4 + length]
        at += 4 + length + (-length % 4)
    assert options[1] == b"kept the last 10 segments"
    assert options[4] == b"sip-transport-testbed"


# -- streaming (testbed serve --report-dir) ----------------------------------------------


def in_order(path):
    """("keys", bytes) and ("packet", decoded) in file order."""
    out = []
    for kind, body in blocks(path.read_bytes())[2:]:
        if kind == 0x0A:
            out.append(("keys", body[8:8 + struct.unpack_from("<I", body, 4)[0]]))
        else:
            out.append(("packet", decode(body[20:20 + struct.unpack_from("<I", body, 12)[0]])))
    return out


def conversation():
    return [seg(1.0, C4, S4, flags="SYN"), seg(1.1, C4, S4, b"REGISTER"),
            seg(1.2, S4, C4, b"200 OK"), seg(1.3, C4, S4, b"OPTIONS", transport="UDP"),
            seg(1.4, S4, C4, flags="FIN")]


def test_a_streamed_capture_has_every_packet_and_keeps_none(tmp_path):
    capture = Capture(Clock().seconds, limit=0)
    stream = PcapStream(tmp_path / "live.pcapng")
    stream.follow(capture)
    for segment in conversation():
        capture._add(segment.transport, segment.src, segment.dst, segment.data,
                     segment.flags)  # what the sockets feed, without sockets
    stream.close()
    assert len(capture) == 0 and stream.segments == 5
    whole = write_pcap(tmp_path / "whole.pcapng", [
        CapturedSegment(0.0, s.transport, s.src, s.dst, s.data, s.flags)
        for s in conversation()])
    assert (tmp_path / "live.pcapng").read_bytes() == whole.read_bytes()
    capture._add("UDP", C4, S4, b"after close")
    assert stream.segments == 5


def test_keys_come_before_the_packets_that_need_them_as_they_appear(tmp_path):
    clock = Clock()
    keys = tmp_path / "keys.log"
    keys.write_text("")
    stream = PcapStream(tmp_path / "live.pcapng", keylog_path=keys, clock=clock)
    # the Finished record is captured as it arrives; TLS logs the keys after reading it
    stream(seg(1.0, C4, S4, b"client hello + finished"))
    keys.write_text("CLIENT_TRAFFIC_SECRET_0 aa bb\nSERVER_TRAFFIC_SECRET_0 cc")
    clock.advance(0)  # the end of the reactor turn
    stream(seg(1.1, C4, S4, b"REGISTER"))
    clock.advance(0)
    with keys.open("a") as more:
        more.write(" dd\n")  # the second line is complete now
    stream(seg(1.2, C4, S4, b"OPTIONS", transport="UDP"))  # UDP needs no keys
    stream(seg(1.3, S4, C4, b"200 OK"))
    stream.close()
    assert [(k, v if k == "keys" else v["data"]) for k, v in in_order(stream.path)] == [
        ("keys", b"CLIENT_TRAFFIC_SECRET_0 aa bb\n"),
        ("packet", b""), ("packet", b""), ("packet", b""),  # the handshake synthesized
        ("packet", b"client hello + finished"), ("packet", b"REGISTER"),
        ("keys", b"SERVER_TRAFFIC_SECRET_0 cc dd\n"),
        ("packet", b"OPTIONS"), ("packet", b"200 OK")]


def test_a_stream_is_readable_within_the_flush_interval(tmp_path):
    clock = Clock()
    stream = PcapStream(tmp_path / "live.pcapng", clock=clock)
    assert in_order(stream.path) == []  # a valid empty capture from the start
    stream(seg(1.0, C4, S4, b"OPTIONS", transport="UDP"))
    clock.advance(0)
    assert in_order(stream.path) == []  # buffered
    clock.advance(FLUSH_INTERVAL)
    assert [v["data"] for _, v in in_order(stream.path)] == [b"OPTIONS"]
    stream.close()
    assert clock.getDelayedCalls() == []


def test_in_a_report_dir_the_keys_file_starts_empty(tmp_path):
    (tmp_path / "world").mkdir()
    (tmp_path / "world" / "keys.log").write_text("CLIENT_RANDOM old run\n")
    stream = PcapStream.in_report_dir(tmp_path, "world")
    assert stream.path == tmp_path / "world" / "capture.pcapng"
    assert stream.keylog_path.read_text() == ""
    stream.close()


class FullDisk:
    def write(self, data=b""):
        raise OSError(errno.ENOSPC, "No space left on device")

    flush = close = write


def test_a_write_error_stops_the_stream_and_serving_goes_on(tmp_path):
    stream = PcapStream(tmp_path / "live.pcapng")
    stream._out.file.close()
    stream._out.file = stream._writer.file = FullDisk()  # the disk fills up
    stream(seg(1.0, C4, S4, b"OPTIONS", transport="UDP"))  # no exception
    assert stream.error == (f"capture {stream.path}: No space left on device; "
                            "streaming stopped")
    stream(seg(2.0, C4, S4, b"OPTIONS", transport="UDP"))
    stream.close()
    assert stream.segments == 0
