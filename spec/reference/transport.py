# SPDX-License-Identifier: MIT
"""The text forms rbx reads and writes (PROTOCOL.md 9.6 and 9.7): the
transport line of `rbx send` / `rbx recv`, the `kind` of `rbx send --json`,
and the bundle line of `rbx bundle` / `rbx add`."""

import hmac

import protocol as P
from errors import TEXT, RbxError

TRANSPORT_VERSION = 1
HEADER = 33
WHITESPACE = b" \t\r\n"


class LineError(Exception):
    """A refused line, with the words rbx prints after "rbx: recv: "."""


def encode_line(sender, wire):
    """9.6: base64(0x01 || sender || wire), then LF."""
    return (P.b64_encode(bytes([TRANSPORT_VERSION]) + sender + wire) + "\n").encode()


def kind(wire):
    """9.6: the `kind` member of `rbx send --json`."""
    return "prekey" if P.prekey_info(wire)[0] == 1 else "message"


def _strict_b64(text, cap, bad, big):
    """Steps shared by both lines: strip, length, size, alphabet and padding."""
    text = text.strip(WHITESPACE)
    if len(text) == 0 or len(text) % 4:
        raise LineError(bad)
    decoded = len(text) // 4 * 3 - (text[-1:] == b"=") - (text[-2:-1] == b"=")
    if decoded > cap:
        raise LineError(big)
    try:
        return P.b64_strict(text)
    except RbxError:
        raise LineError(bad)


def decode_line(text):
    """9.6, reading: (sender, wire, kind, prekey fields or None)."""
    raw = _strict_b64(text, HEADER + P.MAX_PREKEY_WIRE, "malformed transport line: bad base64",
                      "malformed transport line: too big")
    if len(raw) <= HEADER:
        raise LineError("malformed transport line: too short")
    if raw[0] != TRANSPORT_VERSION:
        raise LineError("malformed transport line: unknown version")
    sender, wire = raw[1:HEADER], raw[HEADER:]
    try:
        k, pkm = P.prekey_info(wire)
    except RbxError as e:
        raise LineError("rejected: " + TEXT[e.name])
    if k == 1 and not hmac.compare_digest(pkm.identity_key, sender):
        raise LineError("rejected: sender identity does not match the handshake")
    return sender, wire, "prekey" if k else "message", pkm


def encode_bundle_line(bundle):
    """9.7: base64 of the PreKeyBundle, then LF; no version byte of its own."""
    return (P.b64_encode(bundle) + "\n").encode()


def decode_bundle_line(text):
    """9.7: the bundle bytes of a bundle line (then parsed as section 5)."""
    return _strict_b64(text, P.BUNDLE_MAXBYTES, "bad bundle: not one line of base64",
                       "bad bundle: too long")
