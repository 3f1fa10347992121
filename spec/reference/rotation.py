# SPDX-License-Identifier: MIT
"""Rotation records, organisation certificates and revocations (PROTOCOL.md
16.1), chain verification (16.2), device lists (20.1-20.4) and request
authentication (20.7), from the specification alone."""

import hmac

import primitives as pr
import proto as pb
from errors import (CHAIN, IDENTITY_CHANGED, INVALID, KEY, LIMIT, MALFORMED, SIGNATURE, STALE,
                    VERSION, RbxError)
from protocol import CHAIN_MAX, be32, be64

ROTATION_MAXBYTES = 336
CERT_MAXBYTES = 192
REVOCATION_MAXBYTES = 256
DEVLIST_ENTRY_MAXBYTES = 336
DEVLIST_MAX_ENTRIES = 1024
DEVLIST_MAX_DEVICES = 64


def reason_ok(r):
    return len(r) <= 63 and all(0x20 <= c != 0x7F for c in r)


def H(encoded):
    return pr.blake2b(encoded, 32)


def eq(a, b):
    return hmac.compare_digest(a, b)


# ---------------------------------------------------------------- 16.1
def rotation_statement(r):
    return (b"ratchetbox-rotation-v1" + be64(r["sequence"]) + r["old_identity"] +
            r["new_identity"] + be64(r["created"]) + be64(r["old_valid_until"]) +
            bytes([len(r["reason"])]) + r["reason"] + r["previous_hash"])


def rotation_sign(r, old_sk, new_sk, rng):
    """16.1.4 (the checks a signer makes, then both signatures, old key first)."""
    if r["sequence"] == 0 or not reason_ok(r["reason"]):
        raise RbxError(INVALID)
    if not pr.pk_valid(r["old_identity"]) or not pr.pk_valid(r["new_identity"]) or \
            r["old_identity"] == r["new_identity"] or \
            pr.public_key(old_sk) != r["old_identity"] or pr.public_key(new_sk) != r["new_identity"]:
        raise RbxError(KEY)
    st = rotation_statement(r)
    r = dict(r)
    r["old_signature"] = pr.xeddsa_sign(old_sk, st, rng.take(64))
    r["new_signature"] = pr.xeddsa_sign(new_sk, st, rng.take(64))
    return pb.encode(dict(r, version=1), pb.ROTATION_RECORD)


def rotation_parse(buf):
    """16.1.5 steps 1-7."""
    if len(buf) > ROTATION_MAXBYTES:
        raise RbxError(MALFORMED)
    f, unknown = pb.parse(buf, pb.ROTATION_RECORD)
    if f["version"] != 1:
        raise RbxError(VERSION)
    if (len(f["old_identity"]) != 32 or len(f["new_identity"]) != 32 or
            len(f["previous_hash"]) != 32 or len(f["old_signature"]) != 64 or
            len(f["new_signature"]) != 64 or unknown or not reason_ok(f["reason"]) or
            f["sequence"] == 0):
        raise RbxError(MALFORMED)
    if pb.encode(f, pb.ROTATION_RECORD) != bytes(buf):
        raise RbxError(MALFORMED)
    if not pr.pk_valid(f["old_identity"]) or not pr.pk_valid(f["new_identity"]) or \
            f["old_identity"] == f["new_identity"]:
        raise RbxError(KEY)
    st = rotation_statement(f)
    if not pr.xeddsa_verify(f["old_identity"], st, f["old_signature"]) or \
            not pr.xeddsa_verify(f["new_identity"], st, f["new_signature"]):
        raise RbxError(SIGNATURE)
    return f


def cert_statement(c):
    return (b"ratchetbox-org-cert-v1" + c["org_key"] + c["identity_key"] + be64(c["created"]) +
            be64(c["expires"]))


def revocation_statement(c):
    return (b"ratchetbox-org-revoke-v1" + c["org_key"] + c["identity_key"] +
            be64(c["revoked_at"]) + bytes([len(c["reason"])]) + c["reason"])


def org_sign(c, org_sk, rng, kind):
    """16.1.6 Making: a certificate or a revocation."""
    if not pr.pk_valid(c["org_key"]) or not pr.pk_valid(c["identity_key"]) or \
            pr.public_key(org_sk) != c["org_key"]:
        raise RbxError(KEY)
    if kind == "cert":
        if c["expires"] != 0 and c["expires"] <= c["created"]:
            raise RbxError(INVALID)
        st, schema = cert_statement(c), pb.ORG_CERTIFICATE
    else:
        if not reason_ok(c["reason"]):
            raise RbxError(INVALID)
        st, schema = revocation_statement(c), pb.ORG_REVOCATION
    c = dict(c, version=1, signature=pr.xeddsa_sign(org_sk, st, rng.take(64)))
    return pb.encode(c, schema)


def org_parse(buf, kind):
    """16.1.6 Parsing."""
    maxlen, schema = (CERT_MAXBYTES, pb.ORG_CERTIFICATE) if kind == "cert" else \
        (REVOCATION_MAXBYTES, pb.ORG_REVOCATION)
    if len(buf) > maxlen:
        raise RbxError(MALFORMED)
    f, unknown = pb.parse(buf, schema)
    if f["version"] != 1:
        raise RbxError(VERSION)
    bad = len(f["org_key"]) != 32 or len(f["identity_key"]) != 32 or \
        len(f["signature"]) != 64 or unknown
    if kind == "cert":
        bad = bad or (f["expires"] != 0 and f["expires"] <= f["created"])
    else:
        bad = bad or not reason_ok(f["reason"])
    if bad or pb.encode(f, schema) != bytes(buf):
        raise RbxError(MALFORMED)
    if not pr.pk_valid(f["org_key"]) or not pr.pk_valid(f["identity_key"]):
        raise RbxError(KEY)
    st = cert_statement(f) if kind == "cert" else revocation_statement(f)
    if not pr.xeddsa_verify(f["org_key"], st, f["signature"]):
        raise RbxError(SIGNATURE)
    return f


def chain_verify(pin, target, records):
    """16.2: pin = (identity, sequence, hash). Returns (new pin, grace end)."""
    if len(records) > CHAIN_MAX:
        raise RbxError(LIMIT)
    if not records:
        if eq(target, pin[0]):
            return pin, None
        raise RbxError(IDENTITY_CHANGED)
    rs, hashes = [], []
    for i, raw in enumerate(records):
        r = rotation_parse(raw)
        if r["sequence"] == 1 and r["previous_hash"] != bytes(32):
            raise RbxError(CHAIN)
        if i > 0:
            p = rs[-1]
            if r["sequence"] != p["sequence"] + 1 or not eq(r["previous_hash"], hashes[-1]) or \
                    not eq(r["old_identity"], p["new_identity"]):
                raise RbxError(CHAIN)
        rs.append(r)
        hashes.append(H(raw))
    keys = [rs[0]["old_identity"]] + [r["new_identity"] for r in rs]
    if len(set(keys)) != len(keys) or not eq(rs[-1]["new_identity"], target):
        raise RbxError(CHAIN)
    if eq(target, pin[0]):
        return pin, None
    k = [i for i, r in enumerate(rs) if eq(r["old_identity"], pin[0])]
    if not k:
        raise RbxError(IDENTITY_CHANGED)
    rk = rs[k[0]]
    if pin[1] > 0:
        if rk["sequence"] <= pin[1]:
            raise RbxError(STALE)
        if rk["sequence"] != pin[1] + 1 or not eq(rk["previous_hash"], pin[2]):
            raise RbxError(CHAIN)
    return (rs[-1]["new_identity"], rs[-1]["sequence"], hashes[-1]), rk["old_valid_until"]


# ---------------------------------------------------------------- 20: device lists
def device_id(ik):
    d = int.from_bytes(pr.blake2b(b"ratchetbox-device-id-v1" + ik, 32)[0:4], "big") & 0x7FFFFFFF
    return d or 1


def user_ok(u):
    if not 1 <= len(u) <= 63:
        return False
    first = b"abcdefghijklmnopqrstuvwxyz0123456789"
    rest = first + b"._@-"
    return u[0] in first and all(c in rest for c in u[1:])


def devlist_statement(e):
    return (b"ratchetbox-devlist-v1" + bytes([len(e["user"])]) + e["user"] + be64(e["seq"]) +
            e["prev_hash"] + bytes([e["op"]]) + be32(e["device"]) + e["identity"] +
            be64(e["created"]) + bytes([e["signer_kind"]]) + e["signer"])


def subject_statement(e):
    return b"ratchetbox-devlist-subject-v1" + pr.blake2b(devlist_statement(e), 32)


def devlist_sign(e, signer_sk, subject_sk, rng):
    """20.3 Signing (signer first, then the subject)."""
    if not user_ok(e["user"]) or e["seq"] == 0 or e["op"] not in (1, 2, 3) or \
            e["signer_kind"] not in (0, 1) or not 1 <= e["device"] <= 2**31 - 1 or \
            (subject_sk is None) != (e["op"] == 2):
        raise RbxError(INVALID)
    if not pr.pk_valid(e["identity"]) or not pr.pk_valid(e["signer"]) or \
            pr.public_key(signer_sk) != e["signer"] or \
            (subject_sk is not None and pr.public_key(subject_sk) != e["identity"]):
        raise RbxError(KEY)
    e = dict(e, version=1)
    e["signature"] = pr.xeddsa_sign(signer_sk, devlist_statement(e), rng.take(64))
    if subject_sk is not None:
        e["subject_signature"] = pr.xeddsa_sign(subject_sk, subject_statement(e), rng.take(64))
    return pb.encode(e, pb.DEVICE_LIST_ENTRY)


def devlist_parse(buf):
    """20.3 Parsing, steps 1-7."""
    if len(buf) > DEVLIST_ENTRY_MAXBYTES:
        raise RbxError(MALFORMED)
    f, unknown = pb.parse(buf, pb.DEVICE_LIST_ENTRY)
    if f["version"] != 1:
        raise RbxError(VERSION)
    sub = f.get("subject_signature")
    if (len(f["prev_hash"]) != 32 or len(f["identity"]) != 32 or len(f["signer"]) != 32 or
            len(f["signature"]) != 64 or (sub is not None and len(sub) != 64) or
            (sub is None) != (f["op"] == 2) or not user_ok(f["user"]) or f["seq"] == 0 or
            f["op"] not in (1, 2, 3) or not 1 <= f["device"] <= 2**31 - 1 or
            f["signer_kind"] not in (0, 1) or unknown):
        raise RbxError(MALFORMED)
    if pb.encode(f, pb.DEVICE_LIST_ENTRY) != bytes(buf):
        raise RbxError(MALFORMED)
    if not pr.pk_valid(f["identity"]) or not pr.pk_valid(f["signer"]):
        raise RbxError(KEY)
    if not pr.xeddsa_verify(f["signer"], devlist_statement(f), f["signature"]) or \
            (sub is not None and not pr.xeddsa_verify(f["identity"], subject_statement(f), sub)):
        raise RbxError(SIGNATURE)
    return f


def devlist_verify(user, entries, pin=None, org=None):
    """20.4: (devices [(id, key, added seq)], head (first_hash, seq, hash))."""
    n = len(entries)
    if n > DEVLIST_MAX_ENTRIES:
        raise RbxError(LIMIT)
    if pin is not None:
        first_hash, pseq, phash = pin
        if n < pseq:
            raise RbxError(STALE)
        if not eq(H(entries[0]), first_hash) or not eq(H(entries[pseq - 1]), phash):
            raise RbxError(IDENTITY_CHANGED)
    if n == 0:
        raise RbxError(CHAIN)
    devices = []  # [id, key, seq]
    prev = None
    for i, raw in enumerate(entries, 1):
        e = devlist_parse(raw)
        if e["user"] != user or e["seq"] != i or \
                not eq(e["prev_hash"], H(entries[i - 2]) if i > 1 else bytes(32)) or \
                (prev is not None and e["created"] < prev["created"]):
            raise RbxError(CHAIN)
        if e["signer_kind"] == 1:
            ok = org is not None and eq(e["signer"], org)
        elif i == 1:
            ok = eq(e["signer"], e["identity"])
        else:
            ok = any(eq(d[1], e["signer"]) for d in devices)
        if not ok or (i == 1 and e["op"] != 1):
            raise RbxError(CHAIN)
        dev = [d for d in devices if d[0] == e["device"]]
        if e["op"] == 1:
            if e["device"] != device_id(e["identity"]) or dev or \
                    any(eq(d[1], e["identity"]) for d in devices):
                raise RbxError(CHAIN)
            if len(devices) >= DEVLIST_MAX_DEVICES:
                raise RbxError(LIMIT)
            devices.append([e["device"], e["identity"], i])
        elif e["op"] == 2:
            if not dev or not eq(dev[0][1], e["identity"]) or len(devices) <= 1:
                raise RbxError(CHAIN)
            devices.remove(dev[0])
        else:
            if not dev or (e["signer_kind"] == 0 and not eq(e["signer"], dev[0][1])) or \
                    any(eq(d[1], e["identity"]) for d in devices):
                raise RbxError(CHAIN)
            dev[0][1] = e["identity"]
        prev = e
    return devices, (H(entries[0]), n, H(entries[-1])), prev["created"]


# ---------------------------------------------------------------- 20.7
def request_digest(method, target, ts, nonce, body, user, device):
    return pr.blake2b(b"ratchetbox-http-auth-v1" + bytes([len(method)]) + method +
                      be32(len(target)) + target + be64(ts) + nonce + pr.blake2b(body, 32) +
                      bytes([len(user)]) + user + be32(device), 32)


def request_statement(digest):
    return b"ratchetbox-http-auth-v1" + digest
