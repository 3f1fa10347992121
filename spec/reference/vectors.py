# SPDX-License-Identifier: MIT
"""Re-derive every file of spec/vectors with the reference implementation.

Each file is handled as spec/vectors/README.md describes it: the text
transcripts (handshake, encrypt, decrypt, load, accept, parse), the XEdDSA
cases, the transport lines, and the JSON files of rotation, device lists
and request authentication. A file this runner does not know is an error,
so that every vector file is re-derived."""

import hashlib
import json
import os
import sys

import primitives as pr
import protocol as P
import rotation as R
import transport as T
import users as U
import tvfile
from errors import RbxError


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def result_of(fn):
    """'ok' and the value, or the RBX_E_* name of the refusal."""
    try:
        return "ok", fn()
    except RbxError as e:
        return e.name, None


def filled(b, prefix):
    """A value given as hex (`<prefix>`) or as head || fill^(length - len(head))."""
    if prefix in b:
        return b.hex(prefix)
    head = b.hex(prefix + "_head") if prefix + "_head" in b else b""
    fill = bytes.fromhex(b[prefix + "_fill"])
    return head + fill * (b.int(prefix + "_length") - len(head))


# ---------------------------------------------------------------- transcripts
class Transcript:
    """One handshake and what follows it (README: "Transcripts")."""

    def __init__(self, x):
        self.prof, self.he = x.int("kdf_profile"), x.int("header_encryption")
        ask, bsk = x.hex("alice_identity_private"), x.hex("bob_identity_private")
        apk, bpk = pr.public_key(ask), pr.public_key(bsk)
        check(apk == x.hex("alice_identity_public"), "alice public key")
        check(bpk == x.hex("bob_identity_public"), "bob public key")
        self.pre = P.Prekeys(bpk, bsk)
        spk_id, opk_id = x.int("signed_prekey_id"), x.int("one_time_prekey_id")
        self.pre.add_signed(spk_id, x.hex("signed_prekey_private"), P.Rng(x.hex("signed_prekey_z")))
        self.pre.add_onetime(opk_id, x.hex("one_time_prekey_private"))
        check(self.pre.signed[spk_id][0] == x.hex("signed_prekey_public"), "signed prekey")
        check(self.pre.signed[spk_id][2] == x.hex("signed_prekey_signature"), "spk signature")
        bundle = self.pre.bundle(spk_id, opk_id)
        check(bundle == x.hex("bundle"), "bundle")
        parsed = P.bundle_parse(bundle)
        rng = P.Rng(x.hex("ephemeral_private") + x.hex("alice_ratchet_private"))
        a = P.initiate(apk, ask, parsed, rng, self.prof, self.he)
        check(a.base_key == x.hex("ephemeral_public"), "ephemeral public")
        check(a.dhs_pk == x.hex("alice_ratchet_public"), "alice ratchet public")
        if "dh1" in x:
            eks = x.hex("ephemeral_private")
            dhs = [P.dh(ask, parsed.signed_prekey), P.dh(eks, bpk),
                   P.dh(eks, parsed.signed_prekey), P.dh(eks, parsed.onetime)]
            for i, v in enumerate(dhs):
                check(v == x.hex("dh%d" % (i + 1)), "dh%d" % (i + 1))
        sk, hk_a, nhk_b = P.x3dh_kdf(b"".join(
            [P.dh(ask, parsed.signed_prekey), P.dh(x.hex("ephemeral_private"), bpk),
             P.dh(x.hex("ephemeral_private"), parsed.signed_prekey),
             P.dh(x.hex("ephemeral_private"), parsed.onetime)]), P.PROFILES[self.prof])
        check(sk == x.hex("sk") and hk_a == x.hex("hk_alice") and nhk_b == x.hex("nhk_bob"),
              "X3DH output")
        check(a.ad == x.hex("ad"), "ad")
        check(a.rk == x.hex("alice_root_key_after_first_step"), "root key")
        check(a.cks == x.hex("alice_first_sending_chain_key"), "first sending chain key")
        if "alice_first_sending_block_key" in x:
            check(a.bks == x.hex("alice_first_sending_block_key"), "first sending block key")
        self.parties = {"alice": a, "bob": None}
        self.alice_sk = ask
        self.wires, self.plaintexts = {}, {}
        self.first = None
        self.counts = {}

    @staticmethod
    def index(case):
        return int(case.split("-")[1])

    def block(self, b):
        case, op = b["case"], b.get("op")
        if case == "first-message":
            w = P.encrypt(self.parties["alice"], b.hex("plaintext"), P.Rng(b.hex("rng")))
            self.version2_fields(self.parties["alice"], b)
            check(w == b.hex("wire"), "first message wire")
            self.first = (w, b.hex("plaintext"))
        elif case == "bob-accepts":
            s, pt, _ = P.accept(self.pre, self.first[0], P.Rng(b.hex("rng")))
            check(pt == self.first[1], "first plaintext")
            check(s.dhs_pk == b.hex("bob_ratchet_public"), "bob ratchet public")
            self.parties["bob"] = s
        elif case == "rotation-record":
            # fast-blobs.txt: Alice rotated from an earlier key to hers; the
            # record is attached to her session (6.4) before her next message.
            old_sk = b.hex("old_identity_private")
            check(pr.public_key(old_sk) == b.hex("old_identity_public"), "old identity")
            rec = b.hex("record")
            f = R.rotation_parse(rec)
            check(f["old_identity"] == b.hex("old_identity_public") and
                  f["new_identity"] == self.parties["alice"].ad[0:32], "record keys")
            rng = P.Rng(b.hex("rng"))      # the earlier key pair, then both Z
            check(P.keypair(rng)[1] == old_sk, "the earlier key is the first 32 bytes")
            check(R.rotation_sign(f, old_sk, self.alice_sk, rng) == rec, "record bytes")
            P.set_chain(self.parties["alice"], [rec])
        elif case.startswith("blob-"):
            party = "alice" if case.startswith("blob-alice") else "bob"
            blob = self.parties[party].serialize()
            check(blob == b.hex("blob"), "session blob")
            check(P.session_parse(blob).serialize() == blob, "blob round trip")
        elif op == "encrypt":
            self.encrypt(b)
        elif op == "encrypt-many":
            self.encrypt_many(b)
        elif op == "decrypt":
            self.decrypt(b)
        elif op == "load":
            blob = b.hex("session")
            s = P.session_parse(blob)
            check(s.serialize() == blob, "blob round trip")
            self.parties[b["party"]] = s
        elif op == "accept":
            before = (dict(self.pre.onetime), set(self.pre.consumed))
            got, _ = result_of(lambda: P.accept(self.pre, b.hex("wire"), P.Rng(b.hex("rng"))))
            check(got == b.get("expect", "ok"), "accept: %s" % got)
            check((dict(self.pre.onetime), set(self.pre.consumed)) == before, "prekeys changed")
        elif op == "parse":
            parse_case(b)
        else:
            raise Mismatch("unknown block")

    def encrypt(self, b):
        s = self.parties[b["party"]]
        pt = filled(b, "plaintext")
        rng = P.Rng(b.hex("rng"))
        got, w = result_of(lambda: P.encrypt(s, pt, rng))
        check(got == b.get("expect", "ok"), "encrypt: %s" % got)
        if got != "ok":
            return
        self.version2_fields(s, b)
        if "wire" in b:
            check(w == b.hex("wire"), "wire")
        else:
            check(len(w) == b.int("wire_length") and
                  hashlib.sha256(w).digest() == b.hex("wire_sha256"), "wire digest")
        i = self.index(b["case"])
        self.wires[i], self.plaintexts[i] = w, pt

    @staticmethod
    def version2_fields(s, b):
        """The message key and salt R a version-2 send block lists (4.4, 4.5)."""
        if "message_key" in b:
            check(s.last[0] == b.hex("message_key"), "message key")
        if "salt" in b:
            check(s.last[1] == b.hex("salt"), "salt")

    def encrypt_many(self, b):
        s = self.parties[b["party"]]
        rng = P.Rng(b.hex("rng"))
        first = self.index(b["case"])
        h = hashlib.sha256()
        for k in range(b.int("count")):
            w = P.encrypt(s, b.hex("plaintext"), rng)
            h.update(w)
            self.wires[first + k], self.plaintexts[first + k] = w, b.hex("plaintext")
        check(h.digest() == b.hex("wires_sha256"), "wires digest")

    def decrypt(self, b):
        s = self.parties[b["party"]]
        if "wire" in b:
            wire, want = b.hex("wire"), None
        else:
            i = b.int("message") if "message" in b else self.index(b["case"])
            wire, want = self.wires[i], self.plaintexts[i]
        before = s.serialize()
        got, pt = result_of(lambda: P.ratchet_decrypt(s, wire, P.Rng(b.hex("rng"))))
        check(got == b.get("expect", "ok"), "decrypt: %s, want %s" % (got, b.get("expect", "ok")))
        if got == "ok" and want is not None:
            check(pt == want, "plaintext")
        if got != "ok":
            check(s.serialize() == before, "a refusal changed the session")
        check(len(s.skipped) == b.int("skipped_keys_after"),
              "skipped keys %d, want %s" % (len(s.skipped), b["skipped_keys_after"]))
        if "session_sha256" in b:
            check(hashlib.sha256(s.serialize()).digest() == b.hex("session_sha256"),
                  "session digest")


def parse_case(b):
    data = filled(b, "input")
    parser = b["parser"]
    if parser == "prekey-info":
        got, v = result_of(lambda: P.prekey_info(data))
        if got == "ok":
            check(b["kind"] == ("prekey" if v[0] else "message"), "kind")
    elif parser == "prekey-message":
        got, _ = result_of(lambda: P.prekey_message_parse(data))
    elif parser == "bundle":
        got, _ = result_of(lambda: P.bundle_parse(data, R.rotation_parse,
                                                  lambda c: R.org_parse(c, "cert")))
    else:
        raise Mismatch("unknown parser")
    check(got == b["expect"], "parse %s: %s, want %s" % (parser, got, b["expect"]))


def transport_case(b):
    line = filled(b, "line")
    try:
        sender, wire, kind, _ = T.decode_line(line)
        got = "ok"
    except T.LineError as e:
        got = str(e)
    check(got == b["expect"], "transport: %s, want %s" % (got, b["expect"]))
    if got == "ok":
        check(b.int("version") == 1 and sender == b.hex("sender") and kind == b["kind"] and
              wire == b.hex("wire"), "decoded fields")
        check(T.encode_line(sender, wire) == line.strip() + b"\n", "re-encoding")


def xeddsa_case(b):
    if "private" in b:
        check(pr.public_key(b.hex("private")) == b.hex("public"), "public key")
        sig = pr.xeddsa_sign(b.hex("private"), b.hex("message"), b.hex("z"))
        check(sig == b.hex("signature"), "signature bytes")
    ok = pr.xeddsa_verify(b.hex("public"), b.hex("message"), b.hex("signature"))
    check(("valid" if ok else "invalid") == b["expect"], "verify")


def text_file(path):
    tr = None
    n = 0
    for b in tvfile.load(path):
        n += 1
        try:
            if b.get("case") == "x3dh":
                tr = Transcript(b)
            elif "line" in b or "line_fill" in b:
                transport_case(b)
            elif b.get("expect") in ("valid", "invalid"):
                xeddsa_case(b)
            elif b.get("op") == "parse":
                parse_case(b)
            elif tr is not None:
                tr.block(b)
            else:
                raise Mismatch("block outside a transcript")
        except (Mismatch, RbxError, KeyError, AssertionError) as e:
            raise Mismatch("%s: case %s: %s" % (os.path.basename(path), b.get("case"), e))
    return n


# ---------------------------------------------------------------- JSON files
def h(x):
    return bytes.fromhex(x)


def rotation_json(d):
    k = d["keys"]
    names = [n[:-8] for n in k if n.endswith("_private")]
    sks = {}
    for n in names:
        pk = pr.public_key(h(k[n + "_private"]))
        check(pk == h(k[n + "_public"]), "key " + n)
        sks[pk] = h(k[n + "_private"])
    recs = []
    for r in d["records"]:
        f = dict(sequence=r["sequence"], old_identity=h(r["old_identity"]),
                 new_identity=h(r["new_identity"]), created=r["created"],
                 old_valid_until=r["old_valid_until"], reason=r["reason"].encode(),
                 previous_hash=h(r["previous_hash"]))
        check(R.rotation_statement(f) == h(r["statement"]), "rotation statement")
        enc = R.rotation_sign(f, sks[f["old_identity"]], sks[f["new_identity"]], P.Rng(h(r["rng"])))
        check(enc == h(r["record"]) and R.H(enc) == h(r["hash"]), "record")
        R.rotation_parse(enc)
        recs.append(enc)
    c = d["certificate"]
    f = dict(org_key=h(c["org_key"]), identity_key=h(c["identity_key"]), created=c["created"],
             expires=c["expires"])
    check(R.cert_statement(f) == h(c["statement"]), "certificate statement")
    cert = R.org_sign(f, sks[f["org_key"]], P.Rng(h(c["rng"])), "cert")
    check(cert == h(c["certificate"]), "certificate")
    R.org_parse(cert, "cert")
    c = d["revocation"]
    f = dict(org_key=h(c["org_key"]), identity_key=h(c["identity_key"]),
             revoked_at=c["revoked_at"], reason=c["reason"].encode())
    check(R.revocation_statement(f) == h(c["statement"]), "revocation statement")
    rev = R.org_sign(f, sks[f["org_key"]], P.Rng(h(c["rng"])), "rev")
    check(rev == h(c["revocation"]), "revocation")
    R.org_parse(rev, "rev")
    b = d["bundle"]
    ik = h(b["identity_key"])
    pre = P.Prekeys(ik, sks[ik])
    st = P.spk_statement(b["signed_prekey_id"], h(b["signed_prekey_public"]),
                         b["signed_prekey_created"])
    check(st == h(b["signed_prekey_statement"]), "spk v2 statement")
    pre.add_signed(b["signed_prekey_id"], h(b["signed_prekey_private"]),
                   P.Rng(h(b["signed_prekey_z"])), b["signed_prekey_created"])
    check(pre.signed[b["signed_prekey_id"]][2] == h(b["signed_prekey_signature"]), "spk signature")
    enc = pre.bundle(b["signed_prekey_id"], rotation=recs, certificate=cert)
    check(enc == h(b["bundle"]), "bundle")
    parsed = P.bundle_parse(enc, R.rotation_parse, lambda x: R.org_parse(x, "cert"))
    pin, _ = R.chain_verify((recs and R.rotation_parse(recs[0])["old_identity"], 0, bytes(32)),
                            parsed.identity, parsed.rotation)
    check(pin[0] == ik and pin[1] == len(recs) and pin[2] == R.H(recs[-1]), "chain")


def devicelist_json(d):
    k = d["keys"]
    sks = {}
    for n in [n[:-8] for n in k if n.endswith("_private")]:
        pk = pr.public_key(h(k[n + "_private"]))
        check(pk == h(k[n + "_public"]) and R.device_id(pk) == k[n + "_device_id"], "key " + n)
        sks[pk] = h(k[n + "_private"])
    user = d["user"].encode()
    raws = []
    for e in d["entries"]:
        f = dict(user=e["user"].encode(), seq=e["seq"], prev_hash=h(e["prev_hash"]), op=e["op"],
                 device=e["device"], identity=h(e["identity"]), created=e["created"],
                 signer_kind=e["signer_kind"], signer=h(e["signer"]))
        check(R.devlist_statement(f) == h(e["statement"]), "device-list statement")
        if "subject_statement" in e:
            check(R.subject_statement(f) == h(e["subject_statement"]), "subject statement")
        enc = R.devlist_sign(f, sks[f["signer"]], sks[f["identity"]] if f["op"] != 2 else None,
                             P.Rng(h(e["rng"])))
        check(enc == h(e["entry"]) and R.H(enc) == h(e["hash"]), "entry %d" % e["seq"])
        raws.append(enc)
    v = d["verified"]
    devs, head, _ = R.devlist_verify(user, raws, None, h(v["org"]))
    check([(x[0], x[1].hex(), x[2]) for x in devs] ==
          [(x["device"], x["identity"], x["added_seq"]) for x in v["devices"]], "devices")
    check(head == (h(v["first_hash"]), v["head_seq"], h(v["head_hash"])), "head")
    for n in d["negative"]:
        pin = (h(n["pin_first_hash"]), n["pin_seq"], h(n["pin_hash"])) if n["pin_seq"] else None
        got, _ = result_of(lambda: R.devlist_verify(user, [h(x) for x in n["entries"]], pin,
                                                    h(n["org"]) if "org" in n else None))
        check(got == n["error"], "%s: %s, want %s" % (n["name"], got, n["error"]))


def request_json(d):
    ask = h(d["a_private"])
    apk = pr.public_key(ask)
    check(apk == h(d["a_public"]), "key")

    def digest(r):
        return R.request_digest(r["method"].encode(), r["target"].encode(), r["ts"],
                                h(r["nonce"]), h(r["body"]), r["user"].encode(), r["device"])
    for r in d["requests"]:
        dg = digest(r)
        check(dg == h(r["digest"]) and pr.blake2b(h(r["body"])) == h(r["body_hash"]), "digest")
        st = R.request_statement(dg)
        check(st == h(r["statement"]), "statement")
        sig = pr.xeddsa_sign(ask, st, h(r["rng"]))
        check(sig == h(r["signature"]) and pr.xeddsa_verify(apk, st, sig), "signature")
        for n in r["negative"]:
            changed, key = dict(r), apk
            if n["change"] == "public key":
                key = h(d[n["value"]])
            else:
                changed[n["change"]] = n["value"]
            ok = pr.xeddsa_verify(key, R.request_statement(digest(changed)), sig)
            check(not ok and n["error"] == "RBX_E_SIGNATURE", "negative " + n["change"])


def multidevice_json(d):
    """21.9: contents parsed and re-encoded from 21.2, then the link of 21.6:
    code and id from the secret, both slots re-sealed with their nonces and
    opened, and the approval's signature checked over the add entry."""
    cases = {"message": (U.MESSAGE, 0), "sync copy, re-sent": (U.SYNC, U.RESENT),
             "retry request": (U.RETRY, 0)}
    check(sorted(c["case"] for c in d["content"]) == sorted(cases), "content cases")
    for c in d["content"]:
        pt = h(c["plaintext"])
        ctype, flags, mid, to, ids, body = U.content_parse(pt)
        check((ctype, flags) == cases[c["case"]] and body == h(c["body"]), "content " + c["case"])
        check(U.content_encode(ctype, flags, mid, body, to, ids) == pt, "content encoding " + c["case"])
        for bad in (pt[:18], bytes([2]) + pt[1:], pt[:1] + bytes([4]) + pt[2:],
                    pt[:2] + bytes([flags | 2]) + pt[3:]):
            got, _ = result_of(lambda: U.content_parse(bad))
            check(got != "ok", "content %s: a changed header is refused" % c["case"])
        if ctype == U.RETRY:
            got, _ = result_of(lambda: U.content_parse(pt + b"x"))
            check(got == "RBX_E_MALFORMED", "bytes after a retry's ids")
    k = d["link"]
    s = h(k["secret"])
    check(U.link_code(s) == k["code"] and U.link_code_parse(k["code"].upper().replace("-", " ")) == s,
          "link code")
    check(U.link_id(s) == h(k["id"]), "link id")
    req, ik_n = h(k["request"]), h(k["new_device_public"])
    check(U.slot_seal(s, U.REQUEST_DOMAIN, req[:24], U.request_plaintext(ik_n)) == req, "request slot")
    check(U.slot_open(s, U.REQUEST_DOMAIN, req) == U.request_plaintext(ik_n), "request opens")
    got, _ = result_of(lambda: U.slot_open(s, U.APPROVAL_DOMAIN, req))
    check(got == "RBX_E_AUTH", "a request slot opened as an approval")
    user, ik_e = k["approval_user"].encode(), h(k["approver_public"])
    e = dict(user=user, seq=k["approval_seq"], prev_hash=h(k["approval_prev_hash"]), op=1,
             device=R.device_id(ik_n), identity=ik_n, created=k["approval_created"], signer_kind=0,
             signer=ik_e)
    sig = h(k["approval_signature"])
    check(pr.xeddsa_verify(ik_e, R.devlist_statement(e), sig), "approval signature")
    pt = U.approval_plaintext(user, e["seq"], e["prev_hash"], e["device"], ik_n, e["created"], ik_e, sig)
    appr = h(k["approval"])
    check(U.slot_seal(s, U.APPROVAL_DOMAIN, appr[:24], pt) == appr, "approval slot")
    check(U.slot_open(s, U.APPROVAL_DOMAIN, appr) == pt, "approval opens")


JSON_FILES = {"rotation.json": rotation_json, "devicelist.json": devicelist_json,
              "request-auth.json": request_json, "multidevice.json": multidevice_json}


def run(vector_dir, extra=(), out=sys.stdout):
    """Re-derive every file of vector_dir (and the external XEdDSA file)."""
    names = sorted(n for n in os.listdir(vector_dir) if n.endswith((".txt", ".json")))
    for name in names:
        path = os.path.join(vector_dir, name)
        if name.endswith(".json"):
            if name not in JSON_FILES:
                raise Mismatch("%s: no re-derivation for this file" % name)
            with open(path, encoding="utf-8") as f:
                JSON_FILES[name](json.load(f))
            out.write("reference: %s re-derived\n" % name)
        else:
            n = text_file(path)
            out.write("reference: %s re-derived (%d blocks)\n" % (name, n))
    for path in extra:
        external_xeddsa(path)
        out.write("reference: %s checked\n" % path)
    return len(names)


def external_xeddsa(path):
    """tests/vectors/xeddsa.txt: block 1 signs and verifies; block 2, the
    libsignal sign-bit form, is refused (PROTOCOL.md 3)."""
    for b in tvfile.load(path):
        if "random" in b:
            check(pr.xeddsa_sign(b.hex("private_key"), b.hex("message"), b.hex("random")) ==
                  b.hex("signature"), "external signature")
            check(pr.xeddsa_verify(b.hex("public_key"), b.hex("message"), b.hex("signature")),
                  "external verify")
        if b.get("expect_xeddsa_spec_verify") == "invalid":
            check(not pr.xeddsa_verify(b.hex("public_key"), b.hex("message"), b.hex("signature")),
                  "the sign-bit form must be refused")
