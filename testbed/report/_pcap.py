"""A pcapng file of the signaling, written by hand with ``struct``: Wireshark opens it.

Layout (pcapng, draft-ietf-opsawg-pcapng; all blocks little-endian):

- Section Header Block, one Interface Description Block (``LINKTYPE_ETHERNET``, time
  stamps in microseconds);
- a Decryption Secrets Block (type ``TLSK``) with the TLS key log when there is one, so
  Wireshark (3.0+) decrypts TLS and WSS with no other file;
- one Enhanced Packet Block per packet, with a comment (``opt_comment``) saying what a
  fault did to it when one did (``_pcap_faults``): Ethernet (locally administered MAC addresses
  derived from the IP address), IPv4 or IPv6, UDP or TCP, with correct lengths and
  checksums.

TCP is synthesized from the captured byte streams: each connection starts with SYN,
SYN/ACK, ACK, carries its bytes in PSH/ACK segments whose sequence and acknowledgement
numbers advance with the bytes sent each way (so Wireshark reassembles SIP over TCP and
TLS records), and ends with FIN/ACK from each side and a last ACK (or an RST). A refused
connection is a SYN answered by RST/ACK; an unanswered one a lone SYN.

Two ways to write one, through the same :class:`PcapngWriter`:

- :func:`write_pcap`: a scenario's capture, kept in memory while it ran, written at the
  end (with its key log in one Decryption Secrets Block before the packets);
- :class:`PcapStream`: a capture written as it goes (``testbed serve --report-dir``),
  nothing kept in memory but the TCP sequence numbers of the connections still open. TLS
  keys are appended in a Decryption Secrets Block of their own as they appear in the key
  log file, before the packets that need them (pcapng allows a DSB anywhere before
  them). The file is flushed at least every :data:`FLUSH_INTERVAL` seconds, so Wireshark
  or ``tshark -r`` can read it while it grows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from testbed.transport import Capture, CapturedSegment, HostPort

from ._streamed import StreamedFile

LINKTYPE_ETHERNET = 1
SECRETS_TLS_KEY_LOG = 0x544C534B  # "TLSK": an NSS key log (SSLKEYLOGFILE)
BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BLOCK_DSB = 0x0000000A
OPT_COMMENT = 1  # opt_comment: UTF-8 text, on any block (Wireshark's packet comment)
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SNAPLEN = 262144
TCP_MAX_PAYLOAD = 65000  # well under IPv4's 65535-byte packets
TCP_WINDOW = 65535
KEYS_FILE = "keys.log"
STREAM_FILE = "capture.pcapng"  # the name a scenario's report gives its pcap
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_APPLICATION = "sip-transport-testbed"


def write_pcap(path: str | Path, segments: Iterable[CapturedSegment],
               keylog_text: str | None = None, *, comment: str = "",
               comments: Mapping[int, Sequence[str]] | None = None) -> Path:
    """Write ``segments`` (in their order) as a pcapng file at ``path``; return the path.

    With ``keylog_text`` (SSLKEYLOGFILE lines, possibly empty) the file carries it in a
    Decryption Secrets Block when it is not empty, and it is also written next to the
    file as ``keys.log`` (for tools that want a separate file:
    ``tshark -o tls.keylog_file:keys.log``). ``comment`` goes into the section header
    (Wireshark shows it in Statistics > Capture File Properties). ``comments`` (by index
    of the segment) go into the packet's ``opt_comment`` options: on the packet that
    carries the segment's bytes, or the first one a TCP event made (the SYN of a refused
    connection).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        writer = PcapngWriter(file, comment=comment)
        if keylog_text:
            writer.secrets(keylog_text.encode("utf-8"))
        for index, segment in enumerate(segments):
            writer.segment(segment, (comments or {}).get(index, ()))
    if keylog_text is not None:
        (path.parent / KEYS_FILE).write_text(keylog_text, encoding="utf-8")
    return path


class PcapngWriter:
    """pcapng blocks written to ``file`` one by one: the header at once, then secrets
    and packets in the order they are given (TCP state kept per open connection)."""

    def __init__(self, file: BinaryIO, *, comment: str = "") -> None:
        self.file = file
        self.packets = 0
        self._synthesizer = _Synthesizer()
        file.write(_section_header(comment) + _interface_description())

    def secrets(self, keylog: bytes) -> None:
        """A Decryption Secrets Block with SSLKEYLOGFILE lines."""
        self.file.write(_decryption_secrets(keylog))

    def segment(self, segment: CapturedSegment, comments: Sequence[str] = ()) -> None:
        """The packets of one captured segment (a TCP open or close is several);
        ``comments`` go on the packet that carries its bytes, or on the first one of a
        TCP event (the SYN of a refused connection)."""
        frames = self._synthesizer.frames(segment)
        at = len(frames) - 1 if segment.flags == "" else 0
        for number, (time, frame) in enumerate(frames):
            self.file.write(_enhanced_packet(time, frame, comments if number == at else ()))
            self.packets += 1


class PcapStream:
    """A capture streamed to a pcapng file at ``path`` as it goes; subscribe it with
    :meth:`follow` (``testbed serve --report-dir``).

    ``keylog_path`` is the SSLKEYLOGFILE the world's TLS writes to: its new complete
    lines become a Decryption Secrets Block before the packets that follow. With a
    ``clock`` the segments of one reactor turn are written together when it ends: a
    TLS record's bytes are captured as they arrive, before TLS reads them and logs the
    keys that decrypt them, and the keys must come first in the file. The clock also
    arms the flush that follows a write by at most :data:`FLUSH_INTERVAL` seconds.
    Without one, each segment is written at once and the file flushed when closed.
    A write error (a full disk) stops the stream with one logged line, kept in
    :attr:`error`; whatever is serving goes on.
    """

    def __init__(self, path: str | Path, *, keylog_path: str | Path | None = None,
                 clock: IReactorTime | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keylog_path = Path(keylog_path) if keylog_path is not None else None
        self.clock = clock
        self.segments = 0
        self._keys_read = 0
        self._pending: list[CapturedSegment] = []
        self._drain_call: IDelayedCall | None = None
        self._capture: Capture | None = None
        file = self.path.open("wb")
        self._out = StreamedFile(file, label=f"capture {self.path}",
                                 stopped="streaming stopped", clock=clock)
        self._writer = PcapngWriter(file)
        file.flush()  # a reader sees a valid (empty) capture at once

    @property
    def error(self) -> str | None:
        """Why streaming stopped, if it did."""
        return self._out.error

    @classmethod
    def in_report_dir(cls, report_dir: str | Path, name: str,
                      clock: IReactorTime | None = None) -> PcapStream:
        """``report_dir/name/capture.pcapng``, with its TLS keys in ``keys.log`` beside it
        (emptied first: the world's key log writes there, the stream reads it)."""
        folder = Path(report_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        keys = folder / KEYS_FILE
        keys.write_bytes(b"")
        return cls(folder / STREAM_FILE, keylog_path=keys, clock=clock)

    @property
    def packets(self) -> int:
        return self._writer.packets

    def follow(self, capture: Capture) -> None:
        """Write every segment ``capture`` records from now on."""
        self._capture = capture
        capture.subscribe(self)

    def __call__(self, segment: CapturedSegment) -> None:
        if self._out.file is None:
            return
        if self.clock is None:
            self._write([segment])
            return
        self._pending.append(segment)
        if self._drain_call is None:
            self._drain_call = self.clock.callLater(0, self._drain)

    def _drain(self) -> None:
        self._drain_call = None
        pending, self._pending = self._pending, []
        self._write(pending)
        self._out.flush_soon()

    def _write(self, segments: list[CapturedSegment]) -> None:
        if self._out.file is None:
            return
        try:
            if self.keylog_path is not None and any(s.transport == "TCP" for s in segments):
                self._new_keys()
            for segment in segments:
                self._writer.segment(segment)
        except OSError as exc:
            self._out.fail(exc)
            return
        self.segments += len(segments)

    def _new_keys(self) -> None:
        """Append the key log's complete lines written since the last look, if any."""
        assert self.keylog_path is not None
        try:
            size = os.stat(self.keylog_path).st_size
        except FileNotFoundError:
            return
        if size <= self._keys_read:
            return
        with self.keylog_path.open("rb") as keys:
            keys.seek(self._keys_read)
            fresh = keys.read(size - self._keys_read)
        complete = fresh[:fresh.rfind(b"\n") + 1]
        if complete:
            self._writer.secrets(complete)
            self._keys_read += len(complete)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Write what is pending and the last keys, flush and close; stop following."""
        if self._capture is not None:
            self._capture.unsubscribe(self)
            self._capture = None
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._drain_call = None
        pending, self._pending = self._pending, []
        self._write(pending)
        self._out.close(self._new_keys if self.keylog_path is not None else None)


# -- pcapng blocks -------------------------------------------------------------------------


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


_END_OF_OPTIONS = struct.pack("<HH", 0, 0)


def _block(block_type: int, body: bytes) -> bytes:
    body = _pad4(body)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _section_header(comment: str = "") -> bytes:
    options = _option(4, _APPLICATION.encode())  # shb_userappl
    if comment:
        options += _option(1, comment.encode("utf-8"))  # opt_comment
    options += _END_OF_OPTIONS
    return _block(BLOCK_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + options)


def _interface_description() -> bytes:
    options = (_option(2, b"testbed") + _option(9, bytes([6]))  # if_name, if_tsresol (µs)
               + _END_OF_OPTIONS)
    return _block(BLOCK_IDB, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + options)


def _decryption_secrets(secrets: bytes) -> bytes:
    return _block(BLOCK_DSB, struct.pack("<II", SECRETS_TLS_KEY_LOG, len(secrets))
                  + _pad4(secrets))


def _enhanced_packet(time: float, frame: bytes, comments: Sequence[str] = ()) -> bytes:
    stamp = max(0, round(time * 1_000_000))
    header = struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(frame), len(frame))
    options = b"".join(_option(OPT_COMMENT, text.encode("utf-8")[:65000]) for text in comments)
    return _block(BLOCK_EPB, header + _pad4(frame)
                  + (options + _END_OF_OPTIONS if options else b""))


# -- packets -------------------------------------------------------------------------------


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 one's-complement sum, as IPv4, UDP and TCP use it."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(address: bytes) -> bytes:
    """A locally administered unicast MAC address standing for an IP address."""
    return b"\x02" + hashlib.blake2s(address, digest_size=5).digest()


class _Packets:
    """Ethernet/IP frames; the IPv4 identification counts up from 1, deterministically."""

    def __init__(self) -> None:
        self.ip_id = 0

    def frame(self, src: HostPort, dst: HostPort, protocol: int, payload: bytes) -> bytes:
        """``payload`` is a UDP or TCP header and data whose checksum field is zero."""
        source, destination = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
        if source.version != destination.version:
            raise ValueError(f"{src[0]} → {dst[0]}: IPv4 and IPv6 mixed in one packet")
        checksum_at = 6 if protocol == 17 else 16
        if source.version == 4:
            pseudo = source.packed + destination.packed + struct.pack("!BBH", 0, protocol,
                                                                     len(payload))
        else:
            pseudo = source.packed + destination.packed + struct.pack("!IxxxB", len(payload),
                                                                     protocol)
        checksum = internet_checksum(pseudo + payload)
        if protocol == 17 and checksum == 0:
            checksum = 0xFFFF  # RFC 768: zero means "no checksum"
        payload = payload[:checksum_at] + struct.pack("!H", checksum) + payload[checksum_at + 2:]
        if source.version == 4:
            self.ip_id = (self.ip_id + 1) & 0xFFFF
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), self.ip_id,
                                 0x4000, 64, protocol, 0, source.packed, destination.packed)
            header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
            ethertype = 0x0800
        else:
            header = struct.pack("!IHBB16s16s", 0x60000000, len(payload), protocol, 64,
                                 source.packed, destination.packed)
            ethertype = 0x86DD
        ethernet = _mac(destination.packed) + _mac(source.packed) + struct.pack("!H", ethertype)
        return ethernet + header + payload

    def udp(self, src: HostPort, dst: HostPort, data: bytes) -> bytes:
        header = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0)
        return self.frame(src, dst, 17, header + data)

    def tcp(self, src: HostPort, dst: HostPort, seq: int, ack: int, flags: int,
            data: bytes = b"") -> bytes:
        header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF,
                             ack & 0xFFFFFFFF if flags & ACK else 0, 5 << 4, flags,
                             TCP_WINDOW, 0, 0)
        return self.frame(src, dst, 6, header + data)


@dataclass
class _Stream:
    """Sequence numbers of one synthesized TCP connection: the next to send, per side."""

    client: HostPort
    server: HostPort
    next_seq: dict[HostPort, int]


def _initial_sequence(src: HostPort, dst: HostPort) -> int:
    """A deterministic initial sequence number (Wireshark shows relative ones anyway)."""
    text = f"{src[0]}|{src[1]}|{dst[0]}|{dst[1]}".encode()
    return int.from_bytes(hashlib.blake2s(text, digest_size=4).digest(), "big")


class _Synthesizer:
    """Turns captured segments into frames, keeping TCP state per connection."""

    def __init__(self) -> None:
        self.packets = _Packets()
        self.streams: dict[frozenset[HostPort], _Stream] = {}

    def frames(self, segment: CapturedSegment) -> list[tuple[float, bytes]]:
        time, src, dst = segment.time, segment.src, segment.dst
        if segment.transport == "UDP":
            return [(time, self.packets.udp(src, dst, segment.data))]
        return [(time, frame) for frame in self._tcp(segment, src, dst)]

    def _open(self, client: HostPort, server: HostPort) -> tuple[_Stream, list[bytes]]:
        packets = self.packets
        c_isn, s_isn = _initial_sequence(client, server), _initial_sequence(server, client)
        stream = _Stream(client, server, {client: c_isn + 1, server: s_isn + 1})
        self.streams[frozenset((client, server))] = stream
        return stream, [packets.tcp(client, server, c_isn, 0, SYN),
                        packets.tcp(server, client, s_isn, c_isn + 1, SYN | ACK),
                        packets.tcp(client, server, c_isn + 1, s_isn + 1, ACK)]

    def _tcp(self, segment: CapturedSegment, src: HostPort, dst: HostPort) -> list[bytes]:
        packets = self.packets
        key = frozenset((src, dst))
        flags = segment.flags
        if flags in ("REFUSED", "UNANSWERED"):
            isn = _initial_sequence(src, dst)
            frames = [packets.tcp(src, dst, isn, 0, SYN)]
            if flags == "REFUSED":
                frames.append(packets.tcp(dst, src, 0, isn + 1, RST | ACK))
            return frames
        if flags == "SYN":
            return self._open(src, dst)[1]
        frames = []
        stream = self.streams.get(key)
        if stream is None:  # bytes of a connection whose start was not captured
            stream, frames = self._open(src, dst)
        seq = stream.next_seq
        if flags == "":
            data = segment.data
            for start in range(0, len(data), TCP_MAX_PAYLOAD):
                chunk = data[start:start + TCP_MAX_PAYLOAD]
                frames.append(packets.tcp(src, dst, seq[src], seq[dst], PSH | ACK, chunk))
                seq[src] += len(chunk)
            return frames
        del self.streams[key]
        if flags == "RST":
            frames.append(packets.tcp(src, dst, seq[src], seq[dst], RST | ACK))
            return frames
        # FIN: src closes, dst closes too, src acknowledges
        frames.append(packets.tcp(src, dst, seq[src], seq[dst], FIN | ACK))
        frames.append(packets.tcp(dst, src, seq[dst], seq[src] + 1, FIN | ACK))
        frames.append(packets.tcp(src, dst, seq[src] + 1, seq[dst] + 1, ACK))
        return frames
