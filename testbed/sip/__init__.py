"""The sans-IO SIP core: messages, URIs, stream framing, transactions, digest, SDP.

No sockets, no reactor, no clock reads: bytes and the current time come in as
arguments, actions and deadlines go out. The client and every mock server share it.
"""

from ._client_transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    client_transaction,
    make_cancel,
    make_non_2xx_ack,
)
from ._digest import ALGORITHMS, Challenge, Credentials, compute_response
from ._digest_client import (
    ChallengeDecision,
    ChallengeVerdict,
    DigestClient,
    build_authorization,
    choose_challenge,
)
from ._digest_server import NONCE_COUNTS_LIMIT, DigestServer, VerifyResult, VerifyStatus
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._framer import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_UDP_MESSAGE_SIZE,
    BadMessage,
    KeepAlivePing,
    KeepAlivePong,
    StreamEvent,
    StreamFramer,
    message_size_limit,
    parse_frame,
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
from ._lazy import RegisterView, ResponseView, scan_register, scan_response
from ._matching import ClientKey, ServerKey, client_key, new_branch, server_key
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
from ._offer_answer import answer_for, build_offer, negotiated_codecs
from ._sdp import (
    DEFAULT_CODECS,
    DIRECTIONS,
    Codec,
    ConnectionInfo,
    MediaDescription,
    SessionDescription,
    Timing,
)
from ._sdp_parser import parse_sdp
from ._server_transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    make_trying,
    server_transaction,
)
from ._timer_values import Timers
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
from ._uri import AbsoluteUri, SipUri, Uri, parse_uri, uris_equal
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
    # digest authentication
    "ALGORITHMS", "Challenge", "ChallengeDecision", "ChallengeVerdict", "Credentials",
    "DigestClient", "DigestServer", "NONCE_COUNTS_LIMIT", "VerifyResult", "VerifyStatus",
    "build_authorization", "choose_challenge", "compute_response",
    # errors
    "LocalProtocolError", "ProtocolError", "RemoteProtocolError",
    # stream framing
    "DEFAULT_MAX_MESSAGE_SIZE", "MAX_UDP_MESSAGE_SIZE", "BadMessage", "KeepAlivePing",
    "KeepAlivePong", "StreamEvent", "StreamFramer", "message_size_limit", "parse_frame",
    # grammar, headers, messages, URIs
    "BRANCH_MAGIC_COOKIE", "COMPACT_FORMS", "LIST_HEADERS", "REASON_PHRASES", "SIP_VERSION",
    "AbsoluteUri", "Address", "CSeq", "Headers", "Message", "Request", "Response", "SipUri",
    "Uri", "Via", "canonical_name", "clear_parse_caches", "error_response_for", "get_param",
    "make_response", "parse_message", "parse_uri", "quote", "split_list", "unquote_param",
    "uris_equal",
    # lazy parsing for the hot paths
    "RegisterView", "ResponseView", "scan_register", "scan_response",
    # SDP and offer/answer
    "DEFAULT_CODECS", "DIRECTIONS", "Codec", "ConnectionInfo", "MediaDescription",
    "SessionDescription", "Timing", "answer_for", "build_offer", "negotiated_codecs",
    "parse_sdp",
    # transactions
    "Timers", "Action", "ClientInviteTransaction", "ClientKey", "ClientNonInviteTransaction",
    "Deliver", "Routed", "ServerInviteTransaction", "ServerKey", "ServerNonInviteTransaction",
    "Terminated", "Timeout", "Transaction", "TransactionEvent", "TransactionState",
    "TransactionTable", "Transmit", "TransportFailed", "client_key", "client_transaction",
    "make_cancel", "make_non_2xx_ack", "make_trying", "new_branch", "server_key",
    "server_transaction",
    # the vocabulary
    "AUTO", "DEFAULT_PORTS", "MODES", "DurationError", "Transport", "fmt_hostport",
    "parse_duration",
]
