# SPDX-License-Identifier: MIT
"""Protobuf (proto2) encoding for the ratchetbox reference implementation.

Written from the protobuf encoding guide (protobuf.dev, "Encoding") and
spec/PROTOCOL.md 9.1, not from any protobuf library: varints, field keys
(number << 3 | wire type) and length-delimited fields. `parse` is what
PROTOCOL.md calls "protobuf parse": the decoding a generic proto2 parser
does, before ratchetbox's own checks (version, lengths, canonical form).
"""

from errors import MALFORMED, RbxError

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(v):
    """Minimal varint of v >= 0."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    """(value, next index); MALFORMED if truncated or longer than 10 bytes.
    Bits above 64 in a 10th byte are dropped, as a 64-bit decoder does."""
    v = 0
    for n in range(10):
        if i >= len(buf):
            raise RbxError(MALFORMED, "truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << (7 * n)
        if not b & 0x80:
            return v & (2**64 - 1), i
    raise RbxError(MALFORMED, "varint longer than 10 bytes")


def key(number, wtype):
    return varint(number << 3 | wtype)


def f_varint(number, v):
    return key(number, VARINT) + varint(v)


def f_bytes(number, b):
    return key(number, LEN) + varint(len(b)) + b


# Field types of a schema: "uint32", "uint64", "bool", "bytes", "string";
# a schema maps a field number to (name, type, label) with label "required",
# "optional" or "repeated".
WIRE_OF = {"uint32": VARINT, "uint64": VARINT, "bool": VARINT, "bytes": LEN, "string": LEN}


def parse(buf, schema):
    """Generic proto2 decoding. Returns (fields, unknown): fields maps a name to
    its value (a list for repeated fields; for a scalar field given several
    times, the last value, as protobuf does), unknown lists the numbers of
    fields the schema does not know (skipped). A uint32 takes the varint's
    value modulo 2^32 (protobuf's rule for 32-bit fields); a bool is true iff
    its varint is not 0. MALFORMED: a truncated or overlong varint or length,
    field number 0, wire type 3, 4, 6 or 7, a known field with the wrong wire
    type, a missing required field."""
    fields, unknown = {}, []
    i = 0
    while i < len(buf):
        tag, i = read_varint(buf, i)
        number, wtype = tag >> 3, tag & 7
        if number == 0 or wtype not in (VARINT, I64, LEN, I32):
            raise RbxError(MALFORMED, "bad field key")
        if wtype == VARINT:
            v, i = read_varint(buf, i)
        elif wtype == LEN:
            n, i = read_varint(buf, i)
            if n > len(buf) - i:
                raise RbxError(MALFORMED, "truncated field")
            v, i = bytes(buf[i:i + n]), i + n
        else:
            n = 8 if wtype == I64 else 4
            if n > len(buf) - i:
                raise RbxError(MALFORMED, "truncated field")
            v, i = bytes(buf[i:i + n]), i + n
        spec = schema.get(number)
        if spec is None:
            unknown.append(number)
            continue
        name, typ, label = spec
        if WIRE_OF[typ] != wtype:
            raise RbxError(MALFORMED, "wire type of field %d" % number)
        if typ == "uint32":
            v &= 0xFFFFFFFF
        elif typ == "bool":
            v = v != 0
        if label == "repeated":
            fields.setdefault(name, []).append(v)
        else:
            fields[name] = v
    for number, (name, typ, label) in schema.items():
        if label == "required" and name not in fields:
            raise RbxError(MALFORMED, "missing field %s" % name)
        if label == "repeated":
            fields.setdefault(name, [])
    return fields, unknown


def encode(fields, schema):
    """Canonical encoding (PROTOCOL.md 9.1) of the present fields: increasing
    field number, each once (repeated: each value in order), minimal varints,
    a bool as 1. Absent optional fields are left out by the caller (None)."""
    out = bytearray()
    for number in sorted(schema):
        name, typ, label = schema[number]
        v = fields.get(name)
        if v is None:
            continue
        values = v if label == "repeated" else [v]
        for x in values:
            if typ in ("uint32", "uint64"):
                out += f_varint(number, x)
            elif typ == "bool":
                out += f_varint(number, 1 if x else 0)
            elif typ == "string":
                out += f_bytes(number, x if isinstance(x, bytes) else x.encode())
            else:
                out += f_bytes(number, x)
    return bytes(out)


# ---------------------------------------------------------------- schemas
# proto/ratchetbox.proto
BUNDLE = {
    1: ("version", "uint32", "required"),
    2: ("identity_key", "bytes", "required"),
    3: ("signed_prekey_id", "uint32", "required"),
    4: ("signed_prekey", "bytes", "required"),
    5: ("signed_prekey_signature", "bytes", "required"),
    6: ("one_time_prekey_id", "uint32", "optional"),
    7: ("one_time_prekey", "bytes", "optional"),
    8: ("signed_prekey_created", "uint64", "optional"),
    9: ("rotation", "bytes", "repeated"),
    10: ("org_certificate", "bytes", "optional"),
}

MESSAGE = {
    1: ("version", "uint32", "required"),
    2: ("ratchet_key", "bytes", "optional"),
    3: ("counter", "uint32", "optional"),
    4: ("previous_counter", "uint32", "optional"),
    5: ("encrypted_header", "bytes", "optional"),
    6: ("ciphertext", "bytes", "required"),
    7: ("salt", "bytes", "optional"),
}

PREKEY_MESSAGE = {
    1: ("version", "uint32", "required"),
    2: ("identity_key", "bytes", "required"),
    3: ("base_key", "bytes", "required"),
    4: ("signed_prekey_id", "uint32", "required"),
    5: ("one_time_prekey_id", "uint32", "optional"),
    6: ("kdf_profile", "uint32", "optional"),
    7: ("header_encryption", "bool", "optional"),
    8: ("message", "bytes", "required"),
    9: ("rotation", "bytes", "repeated"),
    10: ("org_certificate", "bytes", "optional"),
}

ROTATION_RECORD = {
    1: ("version", "uint32", "required"),
    2: ("sequence", "uint64", "required"),
    3: ("old_identity", "bytes", "required"),
    4: ("new_identity", "bytes", "required"),
    5: ("created", "uint64", "required"),
    6: ("old_valid_until", "uint64", "required"),
    7: ("reason", "string", "required"),
    8: ("previous_hash", "bytes", "required"),
    9: ("old_signature", "bytes", "required"),
    10: ("new_signature", "bytes", "required"),
}

ORG_CERTIFICATE = {
    1: ("version", "uint32", "required"),
    2: ("org_key", "bytes", "required"),
    3: ("identity_key", "bytes", "required"),
    4: ("created", "uint64", "required"),
    5: ("expires", "uint64", "required"),
    6: ("signature", "bytes", "required"),
}

ORG_REVOCATION = {
    1: ("version", "uint32", "required"),
    2: ("org_key", "bytes", "required"),
    3: ("identity_key", "bytes", "required"),
    4: ("revoked_at", "uint64", "required"),
    5: ("reason", "string", "required"),
    6: ("signature", "bytes", "required"),
}

DEVICE_LIST_ENTRY = {
    1: ("version", "uint32", "required"),
    2: ("user", "string", "required"),
    3: ("seq", "uint64", "required"),
    4: ("prev_hash", "bytes", "required"),
    5: ("op", "uint32", "required"),
    6: ("device", "uint32", "required"),
    7: ("identity", "bytes", "required"),
    8: ("created", "uint64", "required"),
    9: ("signer_kind", "uint32", "required"),
    10: ("signer", "bytes", "required"),
    11: ("signature", "bytes", "required"),
    12: ("subject_signature", "bytes", "optional"),
}
