"""The client's configuration: who it is, where it registers, how it talks."""

from __future__ import annotations

from dataclasses import dataclass, field

from testbed.sip import MODES, SipUri, Timers
from testbed.transport import TrustConfig

LARGE_MESSAGE_POLICIES = ("send", "switch-to-tcp")


@dataclass
class ClientConfig:
    """Everything the user agent needs; defaults are RFC 3261's where it has one.

    ``aor`` is the address-of-record (``sip:alice@example.com``), ``registrar`` the
    registrar's URI (``sip:example.com``, ``sips:pbx.example.com:5062``,
    ``sip:127.0.0.7;transport=tcp``). ``transport`` is the mode: udp, tcp, tls, wss, or
    auto (RFC 3263 discovery through ``dns``). ``hosts`` maps names to addresses like an
    /etc/hosts file, for names no DNS server is given for.
    """

    aor: SipUri
    registrar: SipUri
    transport: str = "udp"
    username: str | None = None
    password: str | None = None
    expires: int = 3600
    refresh_ratio: float = 0.5
    timers: Timers = field(default_factory=Timers)
    ca_file: str | None = None
    ca_pem: bytes | None = None
    insecure: bool = False
    server_name: str | None = None
    keylog: str | None = None
    ws_path: str = "/"
    keepalive_interval: float | None = None
    local_host: str = "127.0.0.1"
    hosts: dict[str, str] = field(default_factory=dict)
    dns: list[tuple[str, int]] = field(default_factory=list)
    dns_timeout: float = 1.0
    udp_large_message: str = "send"
    path_mtu: int | None = None
    user_agent: str = "sip-transport-testbed/0.1"
    answer_status: int = 200
    connect_timeout: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.transport not in MODES:
            raise ValueError(f"transport must be one of {', '.join(MODES)}")
        if self.udp_large_message not in LARGE_MESSAGE_POLICIES:
            raise ValueError(f"udp_large_message must be one of {LARGE_MESSAGE_POLICIES}")

    @property
    def auth_username(self) -> str:
        return self.username or self.aor.user or ""

    @property
    def tls_server_name(self) -> str:
        """The name the TLS certificate must match: the SIP domain (RFC 5922 §4.1)."""
        return self.server_name or self.registrar.host

    def trust(self) -> TrustConfig:
        """The trust for TLS and WSS: the CA given (PEM or file), else the system store.

        ``insecure`` accepts any certificate but still verifies against that trust, so
        the outcome can say what would have failed.
        """
        if self.ca_pem is not None:
            trust = TrustConfig.from_ca_pem(self.ca_pem)
        elif self.ca_file:
            trust = TrustConfig.from_ca_file(self.ca_file)
        else:
            trust = TrustConfig.system()
        return TrustConfig.insecure(diagnose_with=trust) if self.insecure else trust
