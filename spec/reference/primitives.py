# SPDX-License-Identifier: MIT
"""Primitives of the ratchetbox reference implementation, in pure Python.

Written from the public specifications only, never copied from any code:
  - X25519: RFC 7748 sections 4.1 and 5 (the Montgomery ladder as the RFC
    describes it);
  - edwards25519 and Ed25519 verification: RFC 8032 sections 5.1.1-5.1.4
    and 5.1.7 (extended homogeneous coordinates, formulas of section 5.1.4);
  - XEdDSA: Signal's "The XEdDSA and VXEdDSA Signature Schemes" (rev. 1),
    in the form spec/PROTOCOL.md section 3 fixes;
  - ChaCha20, Poly1305 and the AEAD construction: RFC 8439 sections 2.1-2.8;
  - HChaCha20 and XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 section 2;
  - HMAC-SHA256 / SHA-512 / BLAKE2b come from Python's standard library
    (hashlib, hmac); HKDF is RFC 5869 on top of hmac.

This is a test oracle, not a product: nothing here runs in constant time
and secrets are not wiped. Do not use it to protect anything.
"""

import hashlib
import hmac

# ---------------------------------------------------------------- field
P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493  # group order (RFC 8032 "L")
D = (-121665 * pow(121666, P - 2, P)) % P           # edwards25519 d
SQRT_M1 = pow(2, (P - 1) // 4, P)                    # a square root of -1


def inv(x):
    return pow(x, P - 2, P)


def le_int(b):
    return int.from_bytes(b, "little")


def int_le(v, n=32):
    return v.to_bytes(n, "little")


# ---------------------------------------------------------------- X25519
def clamp(k):
    """RFC 7748 decodeScalar25519, returned as 32 bytes."""
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


def x25519(k, u):
    """RFC 7748 section 5: X25519(k, u); k is clamped here, u's top bit masked."""
    assert len(k) == 32 and len(u) == 32
    scalar = le_int(clamp(k))
    x1 = le_int(u) & ((1 << 255) - 1)
    x1 %= P
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = (x2 + z2) % P
        aa = a * a % P
        b = (x2 - z2) % P
        bb = b * b % P
        e = (aa - bb) % P
        c = (x3 + z3) % P
        d = (x3 - z3) % P
        da = d * a % P
        cb = c * b % P
        x3 = (da + cb) % P
        x3 = x3 * x3 % P
        z3 = (da - cb) % P
        z3 = x1 * (z3 * z3 % P) % P
        x2 = aa * bb % P
        z2 = e * ((aa + 121665 * e) % P) % P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return int_le(x2 * inv(z2) % P)


BASE_U = int_le(9)

# PROTOCOL.md 1: the five canonical low-order encodings (check LOW).
LOW_ORDER = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ec" + "ff" * 30 + "7f"),
]


def pk_canon(pk):
    """CANON of PROTOCOL.md 1: top bit clear and u < p."""
    return len(pk) == 32 and pk[31] & 0x80 == 0 and le_int(pk) < P


def pk_valid(pk):
    """CANON + LOW."""
    return pk_canon(pk) and pk not in LOW_ORDER


def public_key(sk):
    return x25519(sk, BASE_U)


# ---------------------------------------------------------------- edwards25519
# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
IDENTITY = (0, 1, 1, 0)


def pt_add(p1, p2):
    """RFC 8032 5.1.4 addition (complete for a = -1)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pt_double(p1):
    """RFC 8032 5.1.4 doubling."""
    x1, y1, z1, _ = p1
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pt_neg(p1):
    x, y, z, t = p1
    return ((-x) % P, y, z, (-t) % P)


def pt_mul(k, p1):
    """k * p1, double-and-add from the top bit (k >= 0, any size)."""
    r = IDENTITY
    for i in range(k.bit_length() - 1, -1, -1):
        r = pt_double(r)
        if (k >> i) & 1:
            r = pt_add(r, p1)
    return r


def pt_encode(p1):
    """RFC 8032 5.1.2: y little-endian, bit 255 = the low bit of x."""
    x, y, z, _ = p1
    zi = inv(z)
    x, y = x * zi % P, y * zi % P
    return int_le(y | ((x & 1) << 255))


def recover_x(y, sign):
    """RFC 8032 5.1.3 steps 2-4; None if there is no such point."""
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vxx = v * x * x % P
    if vxx == u:
        pass
    elif vxx == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def pt_decode(b):
    """RFC 8032 5.1.3: a point from 32 bytes, or None (y >= p, not on the curve)."""
    if len(b) != 32:
        return None
    y = le_int(b) & ((1 << 255) - 1)
    x = recover_x(y, b[31] >> 7)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


BASE_Y = 4 * inv(5) % P
BASE = (recover_x(BASE_Y, 0), BASE_Y, 1, recover_x(BASE_Y, 0) * BASE_Y % P)


def sha512_modq(*parts):
    h = hashlib.sha512()
    for x in parts:
        h.update(x)
    return le_int(h.digest()) % Q


# ---------------------------------------------------------------- XEdDSA
def mont_to_edwards(u_bytes):
    """XEdDSA 2.2 / PROTOCOL.md 3: the Edwards encoding with y = (u - 1) / (u + 1)
    and sign bit 0. u + 1 = 0 cannot occur for a u that passed LOW."""
    u = le_int(u_bytes)
    y = (u - 1) * inv((u + 1) % P) % P
    return int_le(y)


# The y-coordinates (sign bit ignored) that Verify refuses for R: the points
# of order 1, 2, 4 and 8 and the two non-canonical encodings p and p + 1.
def _small_order_ys():
    ys = {0, 1, P - 1, P, P + 1}
    # the order-8 points: their y satisfies y^2 = ... found from the
    # Montgomery order-8 u-coordinates of LOW_ORDER (y = (u - 1) / (u + 1))
    for u in LOW_ORDER[2:4]:
        ys.add(le_int(mont_to_edwards(u)))
    return ys


SMALL_ORDER_Y = _small_order_ys()


def xeddsa_sign(k, msg, z):
    """PROTOCOL.md 3 Sign(k, M) with the 64 random bytes Z given."""
    kc = clamp(k)
    kci = le_int(kc)
    e = pt_encode(pt_mul(kci, BASE))
    if e[31] & 0x80:
        a_int = (-kci) % Q
        a_bytes = int_le(a_int)
        big_a = pt_encode(pt_mul(a_int, BASE))
    else:
        a_int = kci
        a_bytes = kc  # unreduced, as PROTOCOL.md 3 step 2 says
        big_a = e
    r = sha512_modq(b"\xfe" + b"\xff" * 31, a_bytes, msg, z)
    big_r = pt_encode(pt_mul(r, BASE))
    h = sha512_modq(big_r, big_a, msg)
    s = (r + h * a_int) % Q
    return big_r + int_le(s)


def xeddsa_verify(u, msg, sig):
    """PROTOCOL.md 3 Verify: True or False, every check of the list in order."""
    if len(sig) != 64 or not pk_valid(u):
        return False
    if sig[63] & 0xe0:
        return False
    s = le_int(sig[32:])
    if s >= Q:
        return False
    r_bytes = sig[:32]
    if le_int(r_bytes) & ((1 << 255) - 1) in SMALL_ORDER_Y:
        return False
    a_bytes = mont_to_edwards(u)
    a_pt = pt_decode(a_bytes)
    if a_pt is None:
        return False
    h = sha512_modq(r_bytes, a_bytes, msg)
    check = pt_add(pt_mul(s, BASE), pt_neg(pt_mul(h, a_pt)))
    return hmac.compare_digest(pt_encode(check), r_bytes)


# ---------------------------------------------------------------- ChaCha20
MASK32 = 0xFFFFFFFF


def _rounds(state):
    """The 20 rounds (10 double rounds) of RFC 8439 2.3 on 16 words, unrolled."""
    x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15 = state
    M = MASK32
    for _ in range(10):
        x0 = (x0 + x4) & M
        x12 ^= x0
        x12 = ((x12 << 16) & M) | (x12 >> 16)
        x8 = (x8 + x12) & M
        x4 ^= x8
        x4 = ((x4 << 12) & M) | (x4 >> 20)
        x0 = (x0 + x4) & M
        x12 ^= x0
        x12 = ((x12 << 8) & M) | (x12 >> 24)
        x8 = (x8 + x12) & M
        x4 ^= x8
        x4 = ((x4 << 7) & M) | (x4 >> 25)
        x1 = (x1 + x5) & M
        x13 ^= x1
        x13 = ((x13 << 16) & M) | (x13 >> 16)
        x9 = (x9 + x13) & M
        x5 ^= x9
        x5 = ((x5 << 12) & M) | (x5 >> 20)
        x1 = (x1 + x5) & M
        x13 ^= x1
        x13 = ((x13 << 8) & M) | (x13 >> 24)
        x9 = (x9 + x13) & M
        x5 ^= x9
        x5 = ((x5 << 7) & M) | (x5 >> 25)
        x2 = (x2 + x6) & M
        x14 ^= x2
        x14 = ((x14 << 16) & M) | (x14 >> 16)
        x10 = (x10 + x14) & M
        x6 ^= x10
        x6 = ((x6 << 12) & M) | (x6 >> 20)
        x2 = (x2 + x6) & M
        x14 ^= x2
        x14 = ((x14 << 8) & M) | (x14 >> 24)
        x10 = (x10 + x14) & M
        x6 ^= x10
        x6 = ((x6 << 7) & M) | (x6 >> 25)
        x3 = (x3 + x7) & M
        x15 ^= x3
        x15 = ((x15 << 16) & M) | (x15 >> 16)
        x11 = (x11 + x15) & M
        x7 ^= x11
        x7 = ((x7 << 12) & M) | (x7 >> 20)
        x3 = (x3 + x7) & M
        x15 ^= x3
        x15 = ((x15 << 8) & M) | (x15 >> 24)
        x11 = (x11 + x15) & M
        x7 ^= x11
        x7 = ((x7 << 7) & M) | (x7 >> 25)
        x0 = (x0 + x5) & M
        x15 ^= x0
        x15 = ((x15 << 16) & M) | (x15 >> 16)
        x10 = (x10 + x15) & M
        x5 ^= x10
        x5 = ((x5 << 12) & M) | (x5 >> 20)
        x0 = (x0 + x5) & M
        x15 ^= x0
        x15 = ((x15 << 8) & M) | (x15 >> 24)
        x10 = (x10 + x15) & M
        x5 ^= x10
        x5 = ((x5 << 7) & M) | (x5 >> 25)
        x1 = (x1 + x6) & M
        x12 ^= x1
        x12 = ((x12 << 16) & M) | (x12 >> 16)
        x11 = (x11 + x12) & M
        x6 ^= x11
        x6 = ((x6 << 12) & M) | (x6 >> 20)
        x1 = (x1 + x6) & M
        x12 ^= x1
        x12 = ((x12 << 8) & M) | (x12 >> 24)
        x11 = (x11 + x12) & M
        x6 ^= x11
        x6 = ((x6 << 7) & M) | (x6 >> 25)
        x2 = (x2 + x7) & M
        x13 ^= x2
        x13 = ((x13 << 16) & M) | (x13 >> 16)
        x8 = (x8 + x13) & M
        x7 ^= x8
        x7 = ((x7 << 12) & M) | (x7 >> 20)
        x2 = (x2 + x7) & M
        x13 ^= x2
        x13 = ((x13 << 8) & M) | (x13 >> 24)
        x8 = (x8 + x13) & M
        x7 ^= x8
        x7 = ((x7 << 7) & M) | (x7 >> 25)
        x3 = (x3 + x4) & M
        x14 ^= x3
        x14 = ((x14 << 16) & M) | (x14 >> 16)
        x9 = (x9 + x14) & M
        x4 ^= x9
        x4 = ((x4 << 12) & M) | (x4 >> 20)
        x3 = (x3 + x4) & M
        x14 ^= x3
        x14 = ((x14 << 8) & M) | (x14 >> 24)
        x9 = (x9 + x14) & M
        x4 ^= x9
        x4 = ((x4 << 7) & M) | (x4 >> 25)
    return [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15]


SIGMA = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]  # "expand 32-byte k"


def _words(b):
    return [int.from_bytes(b[i:i + 4], "little") for i in range(0, len(b), 4)]


def chacha20_block(key, counter, nonce12):
    """RFC 8439 2.3."""
    state = SIGMA + _words(key) + [counter] + _words(nonce12)
    x = _rounds(state)
    return b"".join(((x[i] + state[i]) & MASK32).to_bytes(4, "little") for i in range(16))


def chacha20_xor(key, counter, nonce12, data):
    """RFC 8439 2.4."""
    out = bytearray(len(data))
    for j in range(0, len(data), 64):
        ks = chacha20_block(key, (counter + j // 64) & MASK32, nonce12)
        chunk = data[j:j + 64]
        n = len(chunk)
        out[j:j + n] = (int.from_bytes(chunk, "little") ^
                        int.from_bytes(ks[:n], "little")).to_bytes(n, "little")
    return bytes(out)


def hchacha20(key, nonce16):
    """draft-irtf-cfrg-xchacha 2.2: words 0-3 and 12-15 of the rounds, no feed-forward."""
    x = _rounds(SIGMA + _words(key) + _words(nonce16))
    return b"".join(v.to_bytes(4, "little") for v in x[0:4] + x[12:16])


# ---------------------------------------------------------------- Poly1305
def poly1305(key, msg):
    """RFC 8439 2.5."""
    r = le_int(key[:16]) & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = le_int(key[16:])
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i:i + 16] + b"\x01"
        acc = (acc + le_int(block)) * r % p
    return int_le((acc + s) & ((1 << 128) - 1), 16)


def _pad16(n):
    return bytes(-n % 16)


def _aead_tag(otk, ad, ct):
    mac_data = ad + _pad16(len(ad)) + ct + _pad16(len(ct)) + \
        len(ad).to_bytes(8, "little") + len(ct).to_bytes(8, "little")
    return poly1305(otk, mac_data)


def chacha20poly1305_encrypt(key, nonce12, pt, ad):
    """RFC 8439 2.8: ciphertext || 16-byte tag."""
    otk = chacha20_block(key, 0, nonce12)[:32]
    ct = chacha20_xor(key, 1, nonce12, pt)
    return ct + _aead_tag(otk, ad, ct)


def chacha20poly1305_decrypt(key, nonce12, ct_tag, ad):
    """RFC 8439 2.8; None if the tag does not verify."""
    if len(ct_tag) < 16:
        return None
    ct, tag = ct_tag[:-16], ct_tag[-16:]
    otk = chacha20_block(key, 0, nonce12)[:32]
    if not hmac.compare_digest(_aead_tag(otk, ad, ct), tag):
        return None
    return chacha20_xor(key, 1, nonce12, ct)


def aead_encrypt(key, nonce24, pt, ad):
    """XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha 2.3): subkey = HChaCha20(key,
    nonce[0:16]), then the RFC 8439 AEAD with nonce 0^4 || nonce[16:24]."""
    sub = hchacha20(key, nonce24[:16])
    return chacha20poly1305_encrypt(sub, bytes(4) + nonce24[16:], pt, ad)


def aead_decrypt(key, nonce24, ct_tag, ad):
    sub = hchacha20(key, nonce24[:16])
    return chacha20poly1305_decrypt(sub, bytes(4) + nonce24[16:], ct_tag, ad)


# ---------------------------------------------------------------- hashes, HKDF
def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def hkdf_extract(salt, ikm):
    return hmac256(salt if salt else bytes(32), ikm)


def hkdf_expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac256(prk, t + info + bytes([i]))
        out += t
        i += 1
    return out[:length]


def hkdf(salt, ikm, info, length):
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def blake2b(data, size=32, key=b"", salt=b"", person=b""):
    return hashlib.blake2b(data, digest_size=size, key=key, salt=salt, person=person).digest()


def sha256(data):
    return hashlib.sha256(data).digest()
