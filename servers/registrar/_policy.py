"""Who may register what: RFC 3261 §10.3 steps 4 and 5, as pure logic.

Step 4: "The registrar SHOULD determine if the authenticated user is authorized to
make registrations for this address-of-record", and answers 403 (Forbidden) when not.
Step 5: an address-of-record "not valid for the domain" gets 404 (Not Found).

The policies, named after what a deployment does (the Kamailio equivalents in
brackets; ``auth_check(realm, table, flags)`` of its ``auth_db`` module):

``own`` (the default)
    The To URI's user part must be the authenticated username, case-sensitively
    (§19.1.4): alice binds, refreshes and removes (``Contact: *``) only her own
    address-of-record, which is therefore always an account [``auth_check`` with flag
    1, whose -8 "authuser mismatch" is answered 403].
``accounts``
    Third-party registration (§10.2) among the accounts: any authenticated user may
    bind the address-of-record of any account; one of no account is not found (404)
    [flag 0, and ``is_subscriber("$tu", ...)`` for the account].
``any``
    A misconfigured server, reproduced on purpose: any authenticated user binds any
    address-of-record, creating as many as they like up to the registrar's
    ``max_aors`` [``auth_check`` with flag 0 and nothing else].

A registrar without accounts authenticates no one and so authorises everything: that
is what an open lab registrar is for, and ``max_aors`` bounds it. ``domains``, when
given, is the step 5 check, whatever the policy [``uri==myself`` / ``is_domain_local``].
"""

from __future__ import annotations

from collections.abc import Collection, Container

from testbed.sip import SipUri, Uri

from ._location import RegisterRejected

REGISTRAR_POLICIES = ("own", "accounts", "any")
"""Who may register which address-of-record (see the module's documentation)."""


def authorise(policy: str, username: str | None, aor: Uri, *,
              accounts: Container[str], domains: Collection[str]) -> None:
    """Raise :class:`RegisterRejected` unless ``username`` may bind ``aor`` (the To URI).

    ``username`` is the authenticated user, None when the registrar authenticates no
    one; ``domains`` the lower-cased hosts an address-of-record may name (empty: any).
    """
    if not isinstance(aor, SipUri):
        raise RegisterRejected(404, "Not Found (address-of-record must be a SIP URI)")
    if username is not None and policy != "any":
        user = aor.user_unescaped or ""
        if policy == "own" and user != username:
            raise RegisterRejected(
                403, "Forbidden (not the authenticated user's address-of-record)")
        if policy == "accounts" and user not in accounts:
            raise RegisterRejected(404, "Not Found (no such account)")
    if domains and aor.host.lower() not in domains:
        raise RegisterRejected(404, "Not Found (address-of-record not of this domain)")


__all__ = ["REGISTRAR_POLICIES", "authorise"]
