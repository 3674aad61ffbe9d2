"""The sans-IO SIP core: messages, URIs, stream framing, transactions, digest, SDP.

No sockets, no reactor, no clock reads: bytes and the current time come in as
arguments, actions and deadlines go out. The client and every mock server share it.
"""

from ._digest import (
    ALGORITHMS,
    Challenge,
    ChallengeDecision,
    ChallengeVerdict,
    Credentials,
    DigestClient,
    DigestServer,
    VerifyResult,
    VerifyStatus,
    build_authorization,
    choose_challenge,
    compute_response,
)
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._framer import (
    DEFAULT_MAX_MESSAGE_SIZE,
    BadMessage,
    KeepAlivePing,
    KeepAlivePong,
    StreamEvent,
    StreamFramer,
)
from ._grammar import get_param, quote, split_list, unquote_param
from ._headers import (
    BRANCH_MAGIC_COOKIE,
    COMPACT_FORMS,
    LIST_HEADERS,
    Address,
    CSeq,
    Headers,
    Via,
    canonical_name,
)
from ._memo import clear_parse_caches
from ._message import (
    REASON_PHRASES,
    SIP_VERSION,
    Message,
    Request,
    Response,
    error_response_for,
    make_response,
    parse_message,
)
from ._sdp import (
    DEFAULT_CODECS,
    DIRECTIONS,
    Codec,
    ConnectionInfo,
    MediaDescription,
    SessionDescription,
    Timing,
    answer_for,
    build_offer,
    negotiated_codecs,
    parse_sdp,
)
from ._timers import Timers
from ._client_transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    client_transaction,
    make_non_2xx_ack,
)
from ._matching import ClientKey, ServerKey, client_key, new_branch, server_key
from ._server_transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    make_trying,
    server_transaction,
)
from ._transaction import (
    Action,
    Deliver,
    Terminated,
    Timeout,
    Transaction,
    TransactionEvent,
    TransactionState,
    Transmit,
    TransportFailed,
)
from ._transaction_table import Routed, TransactionTable
from ._uri import AbsoluteUri, SipUri, Uri, parse_uri
from ._vocabulary import (
    AUTO,
    DEFAULT_PORTS,
    MODES,
    DurationError,
    Transport,
    fmt_hostport,
    parse_duration,
)

__all__ = [
    "ALGORITHMS", "Challenge", "ChallengeDecision", "ChallengeVerdict", "Credentials",
    "DigestClient", "DigestServer", "VerifyResult", "VerifyStatus", "build_authorization",
    "choose_challenge", "compute_response", "BRANCH_MAGIC_COOKIE", "COMPACT_FORMS",
    "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_PORTS", "LIST_HEADERS", "REASON_PHRASES",
    "SIP_VERSION", "AbsoluteUri", "Address", "BadMessage", "CSeq", "Headers", "KeepAlivePing",
    "KeepAlivePong", "LocalProtocolError", "Message", "ProtocolError", "RemoteProtocolError",
    "Request", "Response", "SipUri", "StreamEvent", "StreamFramer", "Uri", "Via",
    "canonical_name", "clear_parse_caches", "error_response_for", "get_param",
    "make_response", "parse_message",
    "parse_uri", "quote", "unquote_param", "split_list", "DEFAULT_CODECS", "DIRECTIONS",
    "ConnectionInfo", "Timing", "Codec", "MediaDescription", "SessionDescription", "answer_for",
    "build_offer", "negotiated_codecs", "parse_sdp", "Timers", "Action",
    "ClientInviteTransaction", "ClientNonInviteTransaction", "Deliver", "Routed",
    "ServerInviteTransaction", "ServerNonInviteTransaction", "Terminated", "Timeout",
    "Transaction", "TransactionEvent", "TransactionState", "TransactionTable", "Transmit",
    "TransportFailed", "ClientKey", "ServerKey", "client_key", "client_transaction", "make_non_2xx_ack", "make_trying",
    "new_branch", "server_key", "server_transaction",
    "AUTO", "MODES", "DurationError", "Transport", "fmt_hostport", "parse_duration",
]
