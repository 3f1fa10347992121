# SPDX-License-Identifier: MIT
"""Users with several devices (PROTOCOL.md 21): the content every message to
a user carries (21.2) and the device link's code, id, key and sealed slots
(21.6), written from the text of those sections."""

import primitives as pr
import rotation as R
from errors import AUTH, INVALID, MALFORMED, TOO_BIG, VERSION, RbxError
from protocol import be32, be64

# 21.2 content types and flags
MESSAGE, SYNC, RETRY = 1, 2, 3
RESENT = 1
MAX_BODY = 1024 * 1024
MAX_IDS = 32


def content_encode(ctype, flags, message_id, body=b"", to=None, ids=()):
    if len(message_id) != 16:
        raise RbxError(INVALID)
    out = bytes([1, ctype, flags]) + message_id
    if ctype == SYNC:
        out += bytes([len(to)]) + to
    if ctype == RETRY:
        out += bytes([len(ids)]) + b"".join(ids)
        return out
    return out + body


def content_parse(buf):
    """21.2: (type, flags, message id, to, ids, body), or the error the
    section names. One content has one encoding, so encode(parse(x)) == x."""
    if len(buf) < 19:
        raise RbxError(MALFORMED)
    if buf[0] != 1:
        raise RbxError(VERSION)
    ctype, flags, mid = buf[1], buf[2], buf[3:19]
    if ctype not in (MESSAGE, SYNC, RETRY):
        raise RbxError(MALFORMED)
    if flags & ~RESENT or (ctype == RETRY and flags):
        raise RbxError(MALFORMED)
    rest, to, ids = buf[19:], None, []
    if ctype == SYNC:
        if not rest or len(rest) < 1 + rest[0]:
            raise RbxError(MALFORMED)
        to, rest = rest[1:1 + rest[0]], rest[1 + rest[0]:]
        if not R.user_ok(to):
            raise RbxError(MALFORMED)
    if ctype == RETRY:
        if not rest or not 1 <= rest[0] <= MAX_IDS or len(rest) != 1 + 16 * rest[0]:
            raise RbxError(MALFORMED)
        ids = [rest[1 + 16 * i:17 + 16 * i] for i in range(rest[0])]
        rest = b""
    if len(rest) > MAX_BODY:
        raise RbxError(TOO_BIG)
    return ctype, flags, mid, to, ids, rest


# 21.6 device links
B32 = "abcdefghijklmnopqrstuvwxyz234567"
REQUEST_DOMAIN = b"ratchetbox-link-request-v1"
APPROVAL_DOMAIN = b"ratchetbox-link-approval-v1"


def link_code(secret):
    """S (15 bytes) in base32, lowercase, no padding, groups of 4 joined by '-'."""
    if len(secret) != 15:
        raise RbxError(INVALID)
    v = int.from_bytes(secret, "big")
    chars = "".join(B32[(v >> (5 * (23 - i))) & 31] for i in range(24))
    return "-".join(chars[i:i + 4] for i in range(0, 24, 4))


def link_code_parse(code):
    s = [c for c in code.lower() if c not in "- "]
    if len(s) != 24 or any(c not in B32 for c in s):
        raise RbxError(MALFORMED)
    v = 0
    for c in s:
        v = (v << 5) | B32.index(c)
    return v.to_bytes(15, "big")


def link_id(secret):
    return pr.blake2b(b"ratchetbox-link-id-v1" + secret, 16)


def link_key(secret):
    return pr.blake2b(b"ratchetbox-link-key-v1" + secret, 32)


def slot_seal(secret, domain, nonce, plaintext):
    return nonce + pr.aead_encrypt(link_key(secret), nonce, plaintext, domain + link_id(secret))


def slot_open(secret, domain, slot):
    if len(slot) < 24 + 16:
        raise RbxError(AUTH)
    pt = pr.aead_decrypt(link_key(secret), slot[:24], slot[24:], domain + link_id(secret))
    if pt is None:
        raise RbxError(AUTH)
    return pt


def request_plaintext(ik_new):
    return bytes([1]) + ik_new


def approval_plaintext(user, seq, prev_hash, device, ik_new, created, ik_approver, signature):
    return (bytes([1, len(user)]) + user + be64(seq) + prev_hash + be32(device) + ik_new +
            be64(created) + ik_approver + signature)
