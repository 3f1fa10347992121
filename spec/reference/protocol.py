# SPDX-License-Identifier: MIT
"""ratchetbox protocol versions 1 and 2 (spec/PROTOCOL.md sections 1-12),
written from the specification alone: keys (2), XEdDSA statements (3), key
derivation and the three KDF profiles (4), prekeys and bundles (5), X3DH
with the records of a first message (6), the Double Ratchet with
ratchetbox's limits, eviction and replay rules (7, 10), message encryption
(8), the wire format (9) and the session blob (11). Errors are raised as
RbxError with the names of section 12."""

import base64
import binascii
import hmac
import os

import primitives as pr
import proto as pb
from errors import (AUTH, INVALID, KEY, LIMIT, MALFORMED, PREKEY_REUSED, REPLAY,
                    SIGNATURE, STATE, TOO_BIG, UNKNOWN_PREKEY, VERSION, RbxError,
                    IDENTITY_CHANGED)

U32 = 2**32 - 1
NO_PREKEY = U32

# Section 10.
MAX_SKIP = 1000
MAX_SKIPPED_KEYS = 2000
MAX_RECEIVING_CHAINS = 5
SKIPPED_KEY_MAX_AGE = 50
MAX_PLAINTEXT = 1024 * 1024
MAX_WIRE = MAX_PLAINTEXT + 512
RECENT_CHAINS = 8
BUNDLE_MAXBYTES = 4096
CHAIN_MAX = 8


class Rng:
    """The randomness of PROTOCOL.md 1 (RNG(n)): from a list of bytes (a vector's
    `rng`, consumed in order) or from the OS."""

    def __init__(self, data=None):
        self.data = data
        self.used = bytearray()

    def take(self, n):
        if self.data is None:
            out = os.urandom(n)
        else:
            if len(self.data) < n:
                raise AssertionError("the vector's rng is exhausted")
            out, self.data = bytes(self.data[:n]), self.data[n:]
        self.used += out
        return out

    def log(self):
        out = bytes(self.used)
        self.used = bytearray()
        return out


def be32(v):
    return v.to_bytes(4, "big")


def be64(v):
    return v.to_bytes(8, "big")


# ---------------------------------------------------------------- 1, 2: keys
def dh(sk, pk):
    """DH with CANON and ZERO (PROTOCOL.md 1); RBX_E_KEY otherwise."""
    if not pr.pk_canon(pk):
        raise RbxError(KEY, "non-canonical public key")
    out = pr.x25519(sk, pk)
    if out == bytes(32):
        raise RbxError(KEY, "zero DH output")
    return out


def keypair(rng):
    sk = rng.take(32)
    return pr.public_key(sk), sk


def b64_key_decode(text):
    """Section 2 base64 of a 32-byte key: standard alphabet, padding, 44
    characters, no whitespace, zero padding bits."""
    if not isinstance(text, (bytes, bytearray)):
        text = text.encode("latin-1")
    if len(text) != 44:
        raise RbxError(MALFORMED)
    out = b64_strict(bytes(text))
    if len(out) != 32:
        raise RbxError(MALFORMED)
    return out


B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64_strict(text):
    """RFC 4648 section 4 base64 with padding; refuses anything outside the
    alphabet (whitespace included), a length not a multiple of 4, misplaced
    or missing padding and non-zero padding bits (RBX_E_MALFORMED)."""
    if len(text) == 0 or len(text) % 4:
        raise RbxError(MALFORMED, "base64 length")
    body = text.rstrip(b"=")
    pad = len(text) - len(body)
    if pad > 2 or any(c not in B64_ALPHABET for c in body):
        raise RbxError(MALFORMED, "base64 alphabet")
    try:
        out = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise RbxError(MALFORMED, "base64")
    # non-zero padding bits: re-encoding must give the input back
    if base64.b64encode(out) != text:
        raise RbxError(MALFORMED, "base64 padding bits")
    return out


def b64_encode(b):
    return base64.b64encode(b).decode()


def fingerprint(pk):
    return pr.sha256(pk)[:8].hex()


# ---------------------------------------------------------------- 3: statements
def spk_statement(spk_id, spk, created=None):
    if created is None:
        return b"ratchetbox-spk-v1" + be32(spk_id) + spk
    return b"ratchetbox-spk-v2" + be32(spk_id) + be64(created) + spk


# ---------------------------------------------------------------- 4: KDF profiles
P_CHAIN = b"rbx-v2-chain-key"
P_BLOCK = b"rbx-v2-block-key"
P_BODY = b"rbx-v2-body-keys"
BLOCK = 32
Z16 = bytes(16)


def _f(k, personal):
    """4.4: F(k, p) = BLAKE2b(key = k, data = "", outlen = 64, salt = 0^16, personal = p)."""
    return pr.blake2b(b"", 64, key=k, salt=Z16, person=personal)


class Profile:
    def __init__(self, number, version, x3dh_info, root_info, msg_info):
        self.number = number
        self.version = version
        self.x3dh_info = x3dh_info
        self.root_info = root_info
        self.msg_info = msg_info

    # 4.4: a chain's state is (CK, BK); BK is all-zero in profiles 0 and 1.
    def chain_init(self, c):
        if self.number == 2:
            o = _f(c, P_BLOCK)
            return o[32:64], o[0:32]
        return c, bytes(32)

    def chain_next(self, ck, bk, n):
        """Next at position n: (mk, CK, BK) of position n + 1."""
        if self.number == 2:
            o = _f(ck, P_CHAIN)
            mk = o[32:64]
            if (n + 1) % BLOCK:
                return mk, o[0:32], bk
            o2 = _f(bk, P_BLOCK)
            return mk, o2[32:64], o2[0:32]
        mk, ck2 = kdf_ck(ck)
        return mk, ck2, bk

    def message_keys(self, mk, salt=None):
        """4.5: the AEAD key and nonce of one message."""
        if self.number == 0:
            m = pr.hkdf_expand(mk, self.msg_info, 56)
            return m[0:32], m[32:56]
        if self.number == 1:
            m = pr.hkdf(bytes(32), mk, self.msg_info, 80)
            return m[0:32], m[64:80] + bytes(8)
        m = pr.blake2b(b"", 44, key=mk, salt=salt, person=P_BODY)
        return m[0:32], m[32:44]

    def body_encrypt(self, key, nonce, pt, ad):
        if self.number == 2:
            return pr.chacha20poly1305_encrypt(key, nonce, pt, ad)
        return pr.aead_encrypt(key, nonce, pt, ad)

    def body_decrypt(self, key, nonce, ct, ad):
        if self.number == 2:
            return pr.chacha20poly1305_decrypt(key, nonce, ct, ad)
        return pr.aead_decrypt(key, nonce, ct, ad)


PROFILES = {
    0: Profile(0, 1, b"ratchetbox v1 X3DH", b"ratchetbox v1 root", b"ratchetbox v1 message"),
    1: Profile(1, 1, b"WhisperText", b"WhisperRatchet", b"WhisperMessageKeys"),
    2: Profile(2, 2, b"ratchetbox v2 X3DH", b"ratchetbox v2 root", None),
}
VERSION_OF = {0: 1, 1: 1, 2: 2}
MAX_ATTACHED = 2907   # 6.4: 8 x 339 + 195
MAX_PREKEY_WIRE = MAX_WIRE + 92 + MAX_ATTACHED
ROTATION_MAXBYTES = 336
CERT_MAXBYTES = 192


def profile(number):
    p = PROFILES.get(number)
    if p is None:
        raise RbxError(VERSION, "unknown kdf profile")
    return p


def x3dh_kdf(dhs, prof):
    """4.2: SK, HK_A, NHK_B."""
    out = pr.hkdf(bytes(32), b"\xff" * 32 + dhs, prof.x3dh_info, 96)
    return out[0:32], out[32:64], out[64:96]


def kdf_rk(rk, dh_out, prof):
    """4.3: RK', CK, NHK."""
    out = pr.hkdf(rk, dh_out, prof.root_info, 96)
    return out[0:32], out[32:64], out[64:96]


def kdf_ck(ck):
    """4.4: mk, CK_next."""
    return pr.hmac256(ck, b"\x01"), pr.hmac256(ck, b"\x02")


# ---------------------------------------------------------------- 5, 9.4: bundles
class Bundle:
    def __init__(self):
        self.identity = None
        self.signed_prekey_id = 0
        self.signed_prekey = None
        self.signature = None
        self.onetime_id = None
        self.onetime = None
        self.created = None
        self.rotation = []
        self.certificate = None

    def encode(self):
        return pb.encode({
            "version": 1, "identity_key": self.identity,
            "signed_prekey_id": self.signed_prekey_id, "signed_prekey": self.signed_prekey,
            "signed_prekey_signature": self.signature,
            "one_time_prekey_id": self.onetime_id, "one_time_prekey": self.onetime,
            "signed_prekey_created": self.created, "rotation": self.rotation,
            "org_certificate": self.certificate}, pb.BUNDLE)


def bundle_parse(buf, parse_record=None, parse_cert=None):
    """Section 5, steps 1-9, in that order."""
    if len(buf) > BUNDLE_MAXBYTES:
        raise RbxError(MALFORMED, "bundle too long")
    f, unknown = pb.parse(buf, pb.BUNDLE)
    if f["version"] != 1:
        raise RbxError(VERSION)
    b = Bundle()
    b.identity, b.signed_prekey_id = f["identity_key"], f["signed_prekey_id"]
    b.signed_prekey, b.signature = f["signed_prekey"], f["signed_prekey_signature"]
    b.onetime_id, b.onetime = f.get("one_time_prekey_id"), f.get("one_time_prekey")
    b.created, b.rotation = f.get("signed_prekey_created"), f["rotation"]
    b.certificate = f.get("org_certificate")
    if (len(b.identity) != 32 or len(b.signed_prekey) != 32 or len(b.signature) != 64 or
            (b.onetime is not None and len(b.onetime) != 32) or
            (b.onetime_id is None) != (b.onetime is None) or b.onetime_id == NO_PREKEY or
            unknown or b.created == 0 or len(b.rotation) > CHAIN_MAX or
            any(len(r) == 0 for r in b.rotation) or b.certificate == b""):
        raise RbxError(MALFORMED, "bundle fields")
    if b.encode() != bytes(buf):
        raise RbxError(MALFORMED, "bundle not canonical")
    for k in (b.identity, b.signed_prekey) + ((b.onetime,) if b.onetime else ()):
        if not pr.pk_valid(k):
            raise RbxError(KEY)
    st = spk_statement(b.signed_prekey_id, b.signed_prekey, b.created)
    if not pr.xeddsa_verify(b.identity, st, b.signature):
        raise RbxError(SIGNATURE)
    for r in b.rotation:
        if parse_record:
            parse_record(r)
    if b.certificate is not None and parse_cert:
        parse_cert(b.certificate)
    return b


class Prekeys:
    """A responder's prekeys (section 5)."""

    def __init__(self, ik_pk, ik_sk):
        if not pr.pk_valid(ik_pk) or pr.public_key(ik_sk) != ik_pk:
            raise RbxError(KEY)
        self.ik_pk, self.ik_sk = ik_pk, ik_sk
        self.signed = {}    # id -> (pk, sk, signature, created)
        self.onetime = {}   # id -> (pk, sk)
        self.consumed = set()

    def add_signed(self, spk_id, sk, rng, created=None):
        pk = pr.public_key(sk)
        if not pr.pk_valid(pk):
            raise RbxError(KEY)
        if spk_id in self.signed:
            raise RbxError(INVALID)
        sig = pr.xeddsa_sign(self.ik_sk, spk_statement(spk_id, pk, created), rng.take(64))
        self.signed[spk_id] = (pk, sk, sig, created)

    def add_onetime(self, opk_id, sk):
        pk = pr.public_key(sk)
        if not pr.pk_valid(pk):
            raise RbxError(KEY)
        if opk_id == NO_PREKEY or opk_id in self.onetime or opk_id in self.consumed:
            raise RbxError(INVALID)
        self.onetime[opk_id] = (pk, sk)

    def bundle(self, spk_id, opk_id=NO_PREKEY, rotation=(), certificate=None):
        pk, _, sig, created = self.signed[spk_id]
        b = Bundle()
        b.identity, b.signed_prekey_id, b.signed_prekey, b.signature = self.ik_pk, spk_id, pk, sig
        b.created = created
        if opk_id != NO_PREKEY:
            b.onetime_id, b.onetime = opk_id, self.onetime[opk_id][0]
        b.rotation, b.certificate = list(rotation), certificate
        return b.encode()


# ---------------------------------------------------------------- 9.2, 9.3: wire
class Message:
    def __init__(self, version=1):
        self.version = version
        self.ratchet_key = None
        self.counter = None
        self.previous_counter = None
        self.encrypted_header = None
        self.ciphertext = None
        self.salt = None

    def encode(self):
        return pb.encode({"version": self.version, "ratchet_key": self.ratchet_key,
                          "counter": self.counter, "previous_counter": self.previous_counter,
                          "encrypted_header": self.encrypted_header,
                          "ciphertext": self.ciphertext, "salt": self.salt}, pb.MESSAGE)


def message_parse(buf):
    """9.2, in the parser order it gives."""
    if len(buf) > MAX_WIRE:
        raise RbxError(TOO_BIG)
    f, unknown = pb.parse(buf, pb.MESSAGE)
    if f["version"] not in (1, 2):
        raise RbxError(VERSION)
    m = Message(f["version"])
    m.ratchet_key, m.counter = f.get("ratchet_key"), f.get("counter")
    m.previous_counter, m.encrypted_header = f.get("previous_counter"), f.get("encrypted_header")
    m.ciphertext, m.salt = f["ciphertext"], f.get("salt")
    clear = m.ratchet_key is not None and m.counter is not None and \
        m.previous_counter is not None and m.encrypted_header is None
    enc = m.encrypted_header is not None and m.ratchet_key is None and m.counter is None and \
        m.previous_counter is None
    if unknown or not (clear or enc) or (m.salt is not None) != (clear and m.version == 2):
        raise RbxError(MALFORMED, "message form")
    if (clear and len(m.ratchet_key) != 32) or (enc and len(m.encrypted_header) != 80) or \
            (m.salt is not None and len(m.salt) != 16):
        raise RbxError(MALFORMED, "message lengths")
    if len(m.ciphertext) < 16:
        raise RbxError(MALFORMED, "short ciphertext")
    if len(m.ciphertext) > MAX_PLAINTEXT + 16:
        raise RbxError(TOO_BIG)
    if m.encode() != bytes(buf):
        raise RbxError(MALFORMED, "message not canonical")
    return m


class PreKeyMessage:
    def __init__(self):
        self.version = 1
        self.rotation = []
        self.certificate = None
        self.identity_key = None
        self.base_key = None
        self.signed_prekey_id = 0
        self.one_time_prekey_id = None
        self.kdf_profile = 0
        self.header_encryption = False
        self.message = None

    def encode(self):
        return pb.encode({"version": self.version, "identity_key": self.identity_key,
                          "base_key": self.base_key, "signed_prekey_id": self.signed_prekey_id,
                          "one_time_prekey_id": self.one_time_prekey_id,
                          "kdf_profile": self.kdf_profile or None,
                          "header_encryption": True if self.header_encryption else None,
                          "message": self.message, "rotation": self.rotation,
                          "org_certificate": self.certificate}, pb.PREKEY_MESSAGE)


def prekey_message_parse(buf):
    """9.3, in the parser order it gives."""
    if len(buf) > MAX_PREKEY_WIRE:
        raise RbxError(TOO_BIG)
    f, unknown = pb.parse(buf, pb.PREKEY_MESSAGE)
    if f["version"] not in (1, 2):
        raise RbxError(VERSION)
    if f["version"] == 1 and len(buf) > MAX_WIRE + 92:
        raise RbxError(TOO_BIG)
    m = PreKeyMessage()
    m.version = f["version"]
    m.identity_key, m.base_key = f["identity_key"], f["base_key"]
    if len(m.identity_key) != 32 or len(m.base_key) != 32:
        raise RbxError(MALFORMED, "key length")
    m.signed_prekey_id = f["signed_prekey_id"]
    m.one_time_prekey_id = f.get("one_time_prekey_id")
    m.kdf_profile = f.get("kdf_profile", 0)
    if VERSION_OF.get(m.kdf_profile) != m.version:
        raise RbxError(VERSION, "kdf profile")
    m.header_encryption = f.get("header_encryption", False)
    m.message = f["message"]
    m.rotation, m.certificate = f["rotation"], f.get("org_certificate")
    if m.version == 1 and (m.rotation or m.certificate is not None):
        raise RbxError(MALFORMED, "attachments in version 1")
    if len(m.rotation) > CHAIN_MAX or any(not 0 < len(r) <= ROTATION_MAXBYTES for r in m.rotation) \
            or (m.certificate is not None and
                (not 0 < len(m.certificate) <= CERT_MAXBYTES or not m.rotation)):
        raise RbxError(MALFORMED, "attachments")
    if unknown or m.encode() != bytes(buf):
        raise RbxError(MALFORMED, "prekey message not canonical")
    return m


def _not_a_message(e, buf):
    """9.3: the Message parser's refusals that leave the PreKeyMessage parser
    to decide: MALFORMED, and TOO_BIG for an input above RBX_MAX_WIRE (only a
    first message with attached records can be that long)."""
    return e.name == MALFORMED or (e.name == TOO_BIG and len(buf) > MAX_WIRE)


def prekey_info(buf):
    """rbx_message_prekey_info: 1 and the fields (PreKeyMessage), 0 (Message)."""
    try:
        message_parse(buf)
        return 0, None
    except RbxError as e:
        if not _not_a_message(e, buf):
            raise
    return 1, prekey_message_parse(buf)


# ---------------------------------------------------------------- 7: the ratchet
HAS_DHR, HAS_CKS, HAS_CKR, HAS_HKS, HAS_HKR = 0x01, 0x02, 0x04, 0x08, 0x10
Z32 = bytes(32)


class Session:
    """Section 7.1 and the fields outside the ratchet, as the blob of 11 holds them."""

    def __init__(self):
        self.initiator = 0
        self.header_encryption = 0
        self.profile = 0
        self.awaiting_reply = 0
        self.poisoned = 0
        self.has_onetime = 0
        self.signed_prekey_id = 0
        self.onetime_prekey_id = 0
        self.ad = bytes(64)
        self.base_key = Z32
        self.rk = Z32
        self.dhs_pk = Z32
        self.dhs_sk = Z32
        self.dhr = Z32
        self.cks = Z32
        self.ckr = Z32
        self.bks = Z32      # version 2: the chains' block keys (4.4)
        self.bkr = Z32
        self.hks = Z32
        self.nhks = Z32
        self.hkr = Z32
        self.nhkr = Z32
        self.ns = self.nr = self.pn = self.dh_steps = 0
        self.flags = 0
        self.recent = []
        self.skipped = []   # [chain, n, step, mk]
        self.records = []   # 6.4: attached while awaiting_reply
        self.certificate = None
        self.last = None    # (mk, R) of the last encrypt, for the vectors

    @property
    def version(self):
        return VERSION_OF[self.profile]

    def copy(self):
        s = Session()
        s.__dict__.update(self.__dict__)
        s.recent = list(self.recent)
        s.skipped = [list(e) for e in self.skipped]
        s.records = list(self.records)
        return s

    def has(self, flag):
        return bool(self.flags & flag)

    # -------------------------------------------------------------- 11: blob
    def serialize(self):
        out = bytearray(b"RBXS" + bytes([self.version]))
        out += bytes([self.initiator, self.header_encryption, self.profile,
                      self.awaiting_reply, self.poisoned, self.has_onetime])
        out += be32(self.signed_prekey_id) + be32(self.onetime_prekey_id)
        out += self.ad + self.base_key + self.rk + self.dhs_pk + self.dhs_sk + self.dhr
        out += self.cks + self.ckr + self.hks + self.nhks + self.hkr + self.nhkr
        for v in (self.ns, self.nr, self.pn, self.dh_steps, self.flags, len(self.recent)):
            out += be32(v)
        out += b"".join(self.recent) + bytes(32 * (8 - len(self.recent)))
        if self.version == 2:
            out += self.bks + self.bkr
        out += be32(len(self.skipped))
        for chain, n, step, mk in self.skipped:
            out += chain + be32(n) + be32(step) + mk
        if self.version == 2:
            out += bytes([len(self.records)])
            for r in self.records:
                out += len(r).to_bytes(2, "big") + r
            cert = self.certificate or b""
            out += len(cert).to_bytes(2, "big") + cert
        return bytes(out)


def session_parse(blob):
    """Section 11: read a blob, refusing in the order given there."""
    if len(blob) < 5 or blob[0:4] != b"RBXS":
        raise RbxError(MALFORMED)
    version = blob[4]
    if version not in (1, 2):
        raise RbxError(VERSION)
    fixed = 719 if version == 1 else 783
    if len(blob) < fixed:
        raise RbxError(MALFORMED)
    ns = int.from_bytes(blob[fixed - 4:fixed], "big")
    if ns > MAX_SKIPPED_KEYS:
        raise RbxError(MALFORMED)
    end = fixed + 72 * ns
    s = Session()
    if version == 1:
        if len(blob) != end:
            raise RbxError(MALFORMED)
    else:
        # the tail: nrecords, be16-prefixed records, be16-prefixed certificate
        i = end
        if i >= len(blob):
            raise RbxError(MALFORMED)
        nrec, i = blob[i], i + 1
        if nrec > CHAIN_MAX:
            raise RbxError(MALFORMED)
        for _ in range(nrec):
            if i + 2 > len(blob):
                raise RbxError(MALFORMED)
            n = int.from_bytes(blob[i:i + 2], "big")
            if not 1 <= n <= ROTATION_MAXBYTES or i + 2 + n > len(blob):
                raise RbxError(MALFORMED)
            s.records.append(bytes(blob[i + 2:i + 2 + n]))
            i += 2 + n
        if i + 2 > len(blob):
            raise RbxError(MALFORMED)
        n = int.from_bytes(blob[i:i + 2], "big")
        if n > CERT_MAXBYTES or i + 2 + n != len(blob):
            raise RbxError(MALFORMED)
        s.certificate = bytes(blob[i + 2:i + 2 + n]) if n else None
    (s.initiator, s.header_encryption, s.profile, s.awaiting_reply, s.poisoned,
     s.has_onetime) = blob[5:11]
    u32 = lambda o: int.from_bytes(blob[o:o + 4], "big")  # noqa: E731
    s.signed_prekey_id, s.onetime_prekey_id = u32(11), u32(15)
    s.ad, s.base_key = blob[19:83], blob[83:115]
    names = ["rk", "dhs_pk", "dhs_sk", "dhr", "cks", "ckr", "hks", "nhks", "hkr", "nhkr"]
    for i, name in enumerate(names):
        setattr(s, name, blob[115 + 32 * i:147 + 32 * i])
    s.ns, s.nr, s.pn, s.dh_steps, s.flags = u32(435), u32(439), u32(443), u32(447), u32(451)
    if version == 2:
        s.bks, s.bkr = blob[715:747], blob[747:779]
    nrecent = u32(455)
    bad = any(blob[i] > 1 for i in (5, 6, 8, 9, 10)) or VERSION_OF.get(s.profile) != version or \
        (s.awaiting_reply and not s.initiator) or (s.onetime_prekey_id and not s.has_onetime)
    if version == 2 and not bad:
        bad = (s.bks != Z32 and not s.has(HAS_CKS)) or (s.bkr != Z32 and not s.has(HAS_CKR)) or \
            ((s.records or s.certificate) and not s.awaiting_reply) or \
            (s.certificate and not s.records)
    bad = bad or s.flags & ~0x1f or nrecent > 8
    if not bad:
        slots = [blob[459 + 32 * i:491 + 32 * i] for i in range(8)]
        s.recent = slots[:nrecent]
        bad = any(x != Z32 for x in slots[nrecent:])
    bad = bad or (not s.has(HAS_DHR) and s.dhr != Z32) or \
        (not s.has(HAS_HKS) and s.hks != Z32) or (not s.has(HAS_HKR) and s.hkr != Z32) or \
        (not s.has(HAS_CKS) and (s.cks != Z32 or s.ns)) or \
        (not s.has(HAS_CKR) and (s.ckr != Z32 or s.nr))
    if not bad:
        seen, last = [], None
        for i in range(ns):
            o = fixed + 72 * i
            e = [blob[o:o + 32], int.from_bytes(blob[o + 32:o + 36], "big"),
                 int.from_bytes(blob[o + 36:o + 40], "big"), blob[o + 40:o + 72]]
            if e[2] > s.dh_steps or s.dh_steps - e[2] > SKIPPED_KEY_MAX_AGE:
                bad = True
            if last is not None and last[0] == e[0]:
                if e[1] <= last[1]:
                    bad = True
            elif e[0] in seen:
                bad = True
            else:
                seen.append(e[0])
            last = e
            s.skipped.append(e)
        bad = bad or len(seen) > MAX_RECEIVING_CHAINS
    if bad:
        raise RbxError(MALFORMED, "blob content")
    return s


def ratchet_init_alice(s, sk, hk_a, nhk_b, spk_b, prof, rng):
    """7.2, RatchetInitAliceHE."""
    s.dhs_pk, s.dhs_sk = keypair(rng)
    s.dhr = spk_b
    s.rk, c, s.nhks = kdf_rk(sk, dh(s.dhs_sk, spk_b), prof)
    s.cks, s.bks = prof.chain_init(c)
    s.hks, s.nhkr = hk_a, nhk_b
    s.flags = HAS_DHR | HAS_CKS | HAS_HKS


def ratchet_init_bob(s, sk, hk_a, nhk_b, spk_pk, spk_sk):
    """7.2, RatchetInitBobHE."""
    s.dhs_pk, s.dhs_sk = spk_pk, spk_sk
    s.rk, s.nhks, s.nhkr = sk, nhk_b, hk_a
    s.flags = 0


def henc(hk, header, ad, rng):
    """8.2."""
    nonce = rng.take(24)
    return nonce + pr.aead_encrypt(hk, nonce, header, ad)


def hdec(hk, eh, ad):
    return pr.aead_decrypt(hk, eh[0:24], eh[24:80], ad)


def set_chain(s, records, certificate=None):
    """6.4: attach rotation records (and a certificate) to a version-2
    initiator's session before its first reply."""
    if s.version != 2 or not s.initiator or not s.awaiting_reply:
        raise RbxError(STATE)
    if len(records) > CHAIN_MAX or (certificate is not None and not records):
        raise RbxError(INVALID)
    s.records, s.certificate = list(records), certificate


def encrypt(s, pt, rng):
    """7.3; returns the wire bytes and commits the session."""
    if s.poisoned:
        raise RbxError(STATE)
    if len(pt) > MAX_PLAINTEXT:
        raise RbxError(TOO_BIG)
    if not s.has(HAS_CKS):
        raise RbxError(STATE)
    if s.ns == U32:
        raise RbxError(LIMIT)
    prof = PROFILES[s.profile]
    mk, ck_next, bk_next = prof.chain_next(s.cks, s.bks, s.ns)
    header = s.dhs_pk + be32(s.pn) + be32(s.ns)
    m = Message(s.version)
    if s.header_encryption:
        eh = henc(s.hks, header, s.ad, rng)
        body_ad = s.ad + eh
        m.encrypted_header = eh
        salt = eh[0:16] if s.version == 2 else None
    else:
        body_ad = s.ad + header
        m.ratchet_key, m.counter, m.previous_counter = s.dhs_pk, s.ns, s.pn
        salt = rng.take(16) if s.version == 2 else None
        m.salt = salt
    key, nonce = prof.message_keys(mk, salt)
    m.ciphertext = prof.body_encrypt(key, nonce, pt, body_ad)
    wire = m.encode()
    if s.awaiting_reply:
        p = PreKeyMessage()
        p.version = s.version
        p.identity_key, p.base_key = s.ad[0:32], s.base_key
        p.signed_prekey_id = s.signed_prekey_id
        p.one_time_prekey_id = s.onetime_prekey_id if s.has_onetime else None
        p.kdf_profile, p.header_encryption = s.profile, bool(s.header_encryption)
        p.message = wire
        p.rotation, p.certificate = list(s.records), s.certificate
        wire = p.encode()
    s.cks, s.bks = ck_next, bk_next
    s.ns += 1
    s.last = (mk, salt)
    return wire


def _chain_id(w):
    """The id of the current receiving chain (7.1), or None."""
    if w.header_encryption:
        return w.hkr if w.has(HAS_HKR) else None
    return w.dhr if w.has(HAS_DHR) else None


def _dh_ratchet_receive(w, dh_pub, prof):
    """7.5, steps 1-4."""
    cid = _chain_id(w)
    if cid is not None:
        if len(w.recent) == RECENT_CHAINS:
            w.recent.pop(0)
        w.recent.append(cid)
    w.pn, w.ns, w.nr = w.ns, 0, 0
    w.hks, w.hkr = w.nhks, w.nhkr
    w.dhr = dh_pub
    w.flags |= HAS_HKS | HAS_HKR | HAS_DHR
    w.rk, c, w.nhkr = kdf_rk(w.rk, dh(w.dhs_sk, w.dhr), prof)
    w.ckr, w.bkr = prof.chain_init(c)
    w.flags |= HAS_CKR
    w.dh_steps += 1


def _dh_ratchet_send(w, prof, rng):
    """7.5, steps 5-6: only once the message authenticated (7.4 D-COMMIT)."""
    w.dhs_pk, w.dhs_sk = keypair(rng)
    w.rk, c, w.nhks = kdf_rk(w.rk, dh(w.dhs_sk, w.dhr), prof)
    w.cks, w.bks = prof.chain_init(c)
    w.flags |= HAS_CKS


def settle(existing, pending, t):
    """7.6: the list of skipped entries that remains."""
    live = [e for e in existing if t - e[2] <= SKIPPED_KEY_MAX_AGE]
    chains = []
    for e in live + pending:
        if e[0] not in chains:
            chains.append(e[0])
    evicted = chains[:max(0, len(chains) - MAX_RECEIVING_CHAINS)]
    return [e for e in live if e[0] not in evicted] + \
        [e for e in pending if e[0] not in evicted]


def _body(s, mk, ct, body_ad, salt):
    prof = PROFILES[s.profile]
    key, nonce = prof.message_keys(mk, salt)
    return prof.body_decrypt(key, nonce, ct, body_ad)


def ratchet_decrypt(s, wire, rng, max_skip=MAX_SKIP, max_skipped=MAX_SKIPPED_KEYS):
    """7.4 on a session (with 6.3 for a PreKeyMessage); returns the plaintext
    and changes s only on success."""
    if s.poisoned:
        raise RbxError(STATE)
    try:
        m = message_parse(wire)
        form_ok = (m.encrypted_header is not None) == bool(s.header_encryption)
    except RbxError as e:
        if not _not_a_message(e, wire):
            raise
        m, form_ok = None, False
    if m is None or not form_ok:
        p = prekey_message_parse(wire)  # its own error if it is not one either
        return _prekey_decrypt(s, p, rng, max_skip, max_skipped)
    return _decrypt_message(s, m, rng, max_skip, max_skipped)


def _prekey_decrypt(s, p, rng, max_skip, max_skipped):
    """6.3."""
    if s.initiator or p.base_key != s.base_key:
        raise RbxError(STATE)
    same = (p.identity_key == s.ad[0:32] and p.signed_prekey_id == s.signed_prekey_id and
            (p.one_time_prekey_id is not None) == bool(s.has_onetime) and
            (p.one_time_prekey_id is None or p.one_time_prekey_id == s.onetime_prekey_id) and
            p.kdf_profile == s.profile and bool(p.header_encryption) == bool(s.header_encryption))
    if not same:
        raise RbxError(AUTH)
    m = _embedded(p)
    if (m.encrypted_header is not None) != bool(s.header_encryption):
        raise RbxError(MALFORMED, "header form")
    return _decrypt_message(s, m, rng, max_skip, max_skipped)


def _embedded(p):
    """The Message inside a PreKeyMessage, of the PreKeyMessage's version (9.3)."""
    m = message_parse(p.message)
    if m.version != p.version:
        raise RbxError(VERSION, "embedded version")
    return m


def _decrypt_message(s, m, rng, max_skip, max_skipped):
    if m.version != s.version:
        raise RbxError(VERSION, "not the session's version")
    prof = PROFILES[s.profile]
    if s.header_encryption:
        body_ad = s.ad + m.encrypted_header
        salt = m.encrypted_header[0:16] if s.version == 2 else None
        header, dh_step = None, None
        chains = []
        for e in s.skipped:
            if e[0] not in chains:
                chains.append(e[0])
        for chain in chains:                                              # H1
            h = hdec(chain, m.encrypted_header, s.ad)
            if h is None:
                continue
            n = int.from_bytes(h[36:40], "big")
            for e in s.skipped:
                if e[0] == chain and e[1] == n:
                    pt = _body(s, e[3], m.ciphertext, body_ad, salt)
                    if pt is None:
                        raise RbxError(AUTH)
                    s.skipped.remove(e)
                    s.awaiting_reply, s.records, s.certificate = 0, [], None
                    return pt
            if not (s.has(HAS_HKR) and chain == s.hkr):
                raise RbxError(REPLAY)
            header, dh_step = h, False
            break
        if header is None:
            h = hdec(s.hkr, m.encrypted_header, s.ad) if s.has(HAS_HKR) else None
            if h is not None:                                             # H2
                header, dh_step = h, False
            else:
                h = hdec(s.nhkr, m.encrypted_header, s.ad)                # H3
                if h is not None:
                    header, dh_step = h, True
                else:                                                     # H4
                    for k in s.recent:
                        if hdec(k, m.encrypted_header, s.ad) is not None:
                            raise RbxError(REPLAY)
                    raise RbxError(AUTH)
    else:
        header = m.ratchet_key + be32(m.previous_counter) + be32(m.counter)
        body_ad = s.ad + header
        salt = m.salt
        for e in s.skipped:                                               # C1
            if e[0] == m.ratchet_key and e[1] == m.counter:
                pt = _body(s, e[3], m.ciphertext, body_ad, salt)
                if pt is None:
                    raise RbxError(AUTH)
                s.skipped.remove(e)
                s.awaiting_reply, s.records, s.certificate = 0, [], None
                return pt
        dh_step = not (s.has(HAS_DHR) and m.ratchet_key == s.dhr)         # C2
        if dh_step and (m.ratchet_key in s.recent or
                        any(e[0] == m.ratchet_key for e in s.skipped)):   # C3
            raise RbxError(REPLAY)
    dh_pub = header[0:32]
    pn = int.from_bytes(header[32:36], "big")
    n = int.from_bytes(header[36:40], "big")
    if not dh_step and n < s.nr:                                          # D1
        raise RbxError(REPLAY)
    w = s.copy()                                                          # D2
    old = None
    if dh_step:                                                           # D3
        if pn > w.nr and pn - w.nr > max_skip:
            raise RbxError(LIMIT, "skip in the previous chain")
        if w.dh_steps == U32:
            raise RbxError(LIMIT, "dh_steps")
        if w.has(HAS_CKR) and pn > w.nr:
            old = (w.ckr, w.bkr, w.nr, _chain_id(w), w.dh_steps)
        _dh_ratchet_receive(w, dh_pub, prof)
    if n > w.nr and n - w.nr > max_skip:                                  # D4
        raise RbxError(LIMIT, "skip")
    if not w.has(HAS_CKR):                                                # D5
        raise RbxError(AUTH)
    if n == U32:
        raise RbxError(LIMIT, "Nr")
    pending = []                                                          # D6
    if old is not None:
        ck, bk, k, cid, step = old
        while k < pn:
            mk, ck, bk = prof.chain_next(ck, bk, k)
            pending.append([cid, k, step, mk])
            k += 1
    ck, bk, k = w.ckr, w.bkr, w.nr
    cid = _chain_id(w)
    while k < n:
        mk, ck, bk = prof.chain_next(ck, bk, k)
        pending.append([cid, k, w.dh_steps, mk])
        k += 1
    kept = settle(w.skipped, pending, w.dh_steps)
    if len(kept) > max_skipped:
        raise RbxError(LIMIT, "stored keys")
    mk, ck, bk = prof.chain_next(ck, bk, n)                               # D8
    pt = _body(w, mk, m.ciphertext, body_ad, salt)                        # D9
    if pt is None:
        raise RbxError(AUTH)
    w.ckr, w.bkr, w.nr = ck, bk, n + 1                                    # D-COMMIT
    if dh_step:
        _dh_ratchet_send(w, prof, rng)
    w.skipped = kept
    w.awaiting_reply, w.records, w.certificate = 0, [], None              # D-DONE
    s.__dict__.update(w.__dict__)
    return pt


# ---------------------------------------------------------------- 6: X3DH
def initiate(ik_pk, ik_sk, bundle, rng, prof_number=2, he=0):
    """6.1: the initiator's session from a parsed bundle."""
    if prof_number not in PROFILES or he not in (0, 1):
        raise RbxError(INVALID)
    prof = PROFILES[prof_number]
    ek_pk, ek_sk = keypair(rng)
    dhs = dh(ik_sk, bundle.signed_prekey) + dh(ek_sk, bundle.identity) + \
        dh(ek_sk, bundle.signed_prekey)
    if bundle.onetime is not None:
        dhs += dh(ek_sk, bundle.onetime)
    sk, hk_a, nhk_b = x3dh_kdf(dhs, prof)
    s = Session()
    s.profile = prof_number
    s.ad = ik_pk + bundle.identity
    ratchet_init_alice(s, sk, hk_a, nhk_b, bundle.signed_prekey, prof, rng)
    s.initiator, s.awaiting_reply, s.base_key = 1, 1, ek_pk
    s.signed_prekey_id = bundle.signed_prekey_id
    if bundle.onetime is not None:
        s.has_onetime, s.onetime_prekey_id = 1, bundle.onetime_id
    s.header_encryption = he
    return s


def accept(prekeys, wire, rng, pinned=None):
    """6.2 R1-R9: (session, plaintext, consumed one-time id)."""
    p = prekey_message_parse(wire)                                        # R1
    spk = prekeys.signed.get(p.signed_prekey_id)                          # R2
    if spk is None:
        raise RbxError(UNKNOWN_PREKEY)
    opk = None
    if p.one_time_prekey_id is not None:                                  # R3
        if p.one_time_prekey_id in prekeys.consumed:
            raise RbxError(PREKEY_REUSED)
        opk = prekeys.onetime.get(p.one_time_prekey_id)
        if opk is None:
            raise RbxError(UNKNOWN_PREKEY)
    dhs = dh(spk[1], p.identity_key) + dh(prekeys.ik_sk, p.base_key) + \
        dh(spk[1], p.base_key)                                            # R4
    if opk is not None:
        dhs += dh(opk[1], p.base_key)
    prof = PROFILES[p.kdf_profile]
    sk, hk_a, nhk_b = x3dh_kdf(dhs, prof)                                 # R5
    s = Session()
    s.ad = p.identity_key + prekeys.ik_pk
    s.profile, s.header_encryption = p.kdf_profile, int(bool(p.header_encryption))
    s.base_key, s.signed_prekey_id = p.base_key, p.signed_prekey_id
    if p.one_time_prekey_id is not None:
        s.has_onetime, s.onetime_prekey_id = 1, p.one_time_prekey_id
    ratchet_init_bob(s, sk, hk_a, nhk_b, spk[0], spk[1])                  # R6
    m = _embedded(p)                                                      # R7
    if (m.encrypted_header is not None) != bool(s.header_encryption):
        raise RbxError(MALFORMED, "header form")
    pt = _decrypt_message(s, m, rng, MAX_SKIP, MAX_SKIPPED_KEYS)
    if pinned is not None and not hmac.compare_digest(pinned, p.identity_key):   # R8
        raise RbxError(IDENTITY_CHANGED)
    used = NO_PREKEY                                                      # R9
    if opk is not None:
        del prekeys.onetime[p.one_time_prekey_id]
        prekeys.consumed.add(p.one_time_prekey_id)
        used = p.one_time_prekey_id
    return s, pt, used
