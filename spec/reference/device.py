# SPDX-License-Identifier: MIT
"""A device made of the reference implementation: an identity (and the ones
it rotated away from), prekeys, contacts with their sessions, and the text
forms of rbx (PROTOCOL.md 9.6, 9.7). It is what the live interoperability
run (live.py) puts opposite `rbx`. Kept in memory only.

Which session takes an incoming message follows what PROTOCOL.md 15.4,
16.4 and 6.4 say a store does: the contact is found by the line's sender key
among its current and earlier keys; a Message is tried on the contact's
current session, then on its retired ones, newest first; a PreKeyMessage
goes to the session with its base key, else to a new handshake, after which
the contact's previous session is retired. A first message under a key no
contact has, carrying rotation records (6.4), is matched to the contact
pinned to a record's old key and follows the chain once it authenticated.
Lines name the sender's identity in the message's session (9.6)."""

import copy
import time

import protocol as P
import rotation as R
import transport as T
from errors import REPLAY, RbxError


class Contact:
    def __init__(self, name, identity):
        self.name = name
        self.keys = [identity]           # every identity key it had; current last
        self.pin = (identity, 0, bytes(32))
        self.bundle = None               # for our next handshake
        self.current = None
        self.retired = []                # newest last


class Device:
    def __init__(self, rng=None, profile=0):
        self.rng = rng or P.Rng()
        self.profile = profile
        pk, sk = P.keypair(self.rng)
        self.identities = [(pk, sk)]
        self.prekeys = {pk: P.Prekeys(pk, sk)}
        self.spk_owner = {}              # signed prekey id -> identity key
        self.records = []                # our rotation records, oldest first
        self.contacts = {}
        self.next_id = 1

    @property
    def pk(self):
        return self.identities[-1][0]

    def _fresh_id(self):
        self.next_id += 1
        return self.next_id - 1

    # ---------------------------------------------------------------- bundles
    def bundle_line(self, onetime=True):
        """A bundle of our identity in force: a new signed prekey with its
        creation time stated (the v2 statement, 9.7) and a one-time prekey."""
        pre = self.prekeys[self.pk]
        spk_id = self._fresh_id()
        pre.add_signed(spk_id, self.rng.take(32), self.rng, created=int(time.time()))
        self.spk_owner[spk_id] = self.pk
        opk_id = P.NO_PREKEY
        if onetime:
            opk_id = self._fresh_id()
            pre.add_onetime(opk_id, self.rng.take(32))
        bundle = pre.bundle(spk_id, opk_id, rotation=self.records[-P.CHAIN_MAX:])
        return T.encode_bundle_line(bundle)

    def add(self, name, line):
        """rbx add: pin a new contact, or follow its rotation records (16.2, 16.4)."""
        b = P.bundle_parse(T.decode_bundle_line(line), R.rotation_parse,
                           lambda c: R.org_parse(c, "cert"))
        c = self.contacts.get(name)
        if c is None:
            c = self.contacts[name] = Contact(name, b.identity)
        elif b.identity != c.keys[-1]:
            pin, _ = R.chain_verify(c.pin, b.identity, b.rotation)
            c.pin = pin
            c.keys.append(b.identity)
            if c.current is not None:
                c.retired.append(c.current)
                c.current = None
        c.bundle = b
        return c

    # ---------------------------------------------------------------- messages
    def send(self, name, pt, he=0):
        c = self.contacts[name]
        if c.current is None:
            sk = dict(self.identities)[self.pk]
            c.current = P.initiate(self.pk, sk, c.bundle, self.rng, self.profile, he)
            if self.records and c.current.version == 2:
                P.set_chain(c.current, self.records[-P.CHAIN_MAX:])      # 6.4
        s = c.current
        own = s.ad[0:32] if s.initiator else s.ad[32:64]
        return T.encode_line(own, P.encrypt(s, pt, self.rng))

    def _contact_of(self, key):
        for c in self.contacts.values():
            if key in c.keys:
                return c
        return None

    def recv(self, line):
        """rbx recv: (contact name, plaintext, new contact?)."""
        sender, wire, kind, pkm = T.decode_line(line)
        c = self._contact_of(sender)
        if kind == "message":
            if c is None:
                raise RbxError("RBX_E_NOT_FOUND", "unknown sender")
            return c.name, self._try_sessions(c, wire), False
        if c is not None:
            for s in ([c.current] if c.current else []) + c.retired[::-1]:
                if s.base_key == pkm.base_key:
                    return c.name, P.ratchet_decrypt(s, wire, self.rng), False
        owner = self.spk_owner.get(pkm.signed_prekey_id, self.pk)
        chain, refusal = None, None
        if c is None and pkm.rotation:
            try:
                c, chain = self._follow(pkm)                             # 6.4
            except RbxError as e:
                refusal = e
        pinned = None if c is None or refusal else sender
        # The handshake's own refusal comes first; a chain's refusal only once
        # the message authenticated (6.4), and nothing is committed then.
        s, pt, _ = P.accept(self.prekeys[owner] if refusal is None else
                            copy.deepcopy(self.prekeys[owner]), wire, self.rng, pinned)
        if refusal is not None:
            raise refusal
        if chain is not None:
            c.pin = chain
            c.keys.append(sender)
        new = c is None
        if new:
            c = self.contacts[P.fingerprint(sender)] = Contact(P.fingerprint(sender), sender)
        if c.current is not None:
            c.retired.append(c.current)
        c.current = s
        return c.name, pt, new

    def _follow(self, pkm):
        """6.4: the contact pinned to the old key of a carried record, and the
        new pin from its chain to IK_A (16.2), or (None, None)."""
        for r in pkm.rotation:
            old = R.rotation_parse(r)["old_identity"]
            for c in self.contacts.values():
                if c.keys[-1] == old:
                    pin, _ = R.chain_verify(c.pin, pkm.identity_key, pkm.rotation)
                    return c, pin
        return None, None

    def _try_sessions(self, c, wire):
        errors = []
        for s in ([c.current] if c.current else []) + c.retired[::-1]:
            try:
                return P.ratchet_decrypt(s, wire, self.rng)
            except RbxError as e:
                errors.append(e)
        if any(e.name == REPLAY for e in errors):
            raise RbxError(REPLAY)
        raise errors[0] if errors else RbxError("RBX_E_NOT_FOUND")

    # ---------------------------------------------------------------- rotation
    def rotate(self, reason=b"reference rotation", grace=7 * 86400):
        """16.3: a record signed by the old and the new key, chained to ours."""
        old_pk, old_sk = self.identities[-1]
        new_pk, new_sk = P.keypair(self.rng)
        now = int(time.time())
        prev = self.records[-1] if self.records else None
        rec = {"sequence": len(self.records) + 1, "old_identity": old_pk,
               "new_identity": new_pk, "created": now, "old_valid_until": now + grace,
               "reason": reason, "previous_hash": R.H(prev) if prev else bytes(32)}
        self.records.append(R.rotation_sign(rec, old_sk, new_sk, self.rng))
        self.identities.append((new_pk, new_sk))
        self.prekeys[new_pk] = P.Prekeys(new_pk, new_sk)
        return new_pk

