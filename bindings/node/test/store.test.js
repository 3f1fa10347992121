// SPDX-License-Identifier: MIT
// Every Store method, with the errors each can give through the binding.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { rb, scratch, enc, dec, newStore, pair, rejects } = require('./helpers.js');

// The product's key file ({"publicKey", "secretKey"}, standard base64) for a
// fresh X25519 key pair made by node:crypto (not by ratchetbox).
function productKeyFile(dir, name) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pk = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const sk = Buffer.from(jwk.d, 'base64url');
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ publicKey: pk.toString('base64'), secretKey: sk.toString('base64') }),
    { mode: 0o600 });
  return { file, pk, sk };
}

test('open: create, reopen, options, and each way it fails', async () => {
  const dir = scratch(true);
  const db = path.join(dir, 's.db');
  await rejects(rb.Store.open(db), 'RBX_E_NOT_FOUND');
  const st = await rb.Store.open(db, { create: true, mode: 'strict', eraseCommits: 8, eraseSeconds: 5 });
  assert.equal(st.closed, false);
  const pk = await st.createIdentity();
  await st.close();
  assert.equal(st.closed, true);
  assert.ok(fs.existsSync(`${db}.key`) && fs.existsSync(`${db}.gen`));
  const again = await rb.Store.open(db);
  assert.deepEqual(await again.identity(), pk);
  await again.close();
  // A store made with a key from the application (a keychain), elsewhere a key file.
  const key = crypto.randomBytes(32);
  const kdb = path.join(dir, 'k.db');
  const k = await rb.Store.open(kdb, { create: true, storageKey: key, generationPath: path.join(dir, 'k.gen') });
  await k.createIdentity();
  await k.close();
  assert.equal(fs.existsSync(`${kdb}.key`), false);
  assert.ok(fs.existsSync(path.join(dir, 'k.gen')));
  const wrong = Buffer.from(key);
  wrong[0] ^= 1;
  await rejects(rb.Store.open(kdb, { storageKey: wrong, generationPath: path.join(dir, 'k.gen') }), 'RBX_E_STORAGE_KEY');
  const ok = await rb.Store.open(kdb, { storageKey: key, generationPath: path.join(dir, 'k.gen') });
  await ok.close();
  const pdb = path.join(dir, 'p.db');
  const p = await rb.Store.open(pdb, { create: true, keyPath: path.join(dir, 'p.storagekey') });
  await p.close();
  assert.ok(fs.existsSync(path.join(dir, 'p.storagekey')));
  await rejects(rb.Store.open(pdb), 'RBX_E_NOT_FOUND'); // no <db>.key
  // A key file of another length, a file that is not a ratchetbox database.
  fs.writeFileSync(path.join(dir, 'p.storagekey'), Buffer.alloc(31));
  await rejects(rb.Store.open(pdb, { keyPath: path.join(dir, 'p.storagekey') }), 'RBX_E_CORRUPT');
  // (State files are 0600: one others may read is refused before its
  // content is looked at, PROTOCOL.md 15.1.)
  fs.writeFileSync(path.join(dir, 'junk.db'), Buffer.alloc(8192, 7), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'junk.db.key'), Buffer.alloc(32, 1), { mode: 0o600 });
  await rejects(rb.Store.open(path.join(dir, 'junk.db')), 'RBX_E_UNSAFE');
  fs.chmodSync(path.join(dir, 'junk.db'), 0o600);
  await rejects(rb.Store.open(path.join(dir, 'junk.db')), 'RBX_E_CORRUPT');
  // A key file without its database is never replaced.
  fs.writeFileSync(path.join(dir, 'orphan.db.key'), Buffer.alloc(32, 2));
  await rejects(rb.Store.open(path.join(dir, 'orphan.db'), { create: true }), 'RBX_E_EXISTS');
  await rejects(rb.Store.open(path.join(dir, 'no', 'such', 'dir.db'), { create: true }), 'RBX_E_IO');
  // A database written by a newer ratchetbox (SQLite's user_version, bytes 60..63).
  const sdb = path.join(dir, 'schema.db');
  const s = await rb.Store.open(sdb, { create: true });
  await s.close();
  const bytes = fs.readFileSync(sdb);
  bytes.writeUInt32BE(99, 60);
  fs.writeFileSync(sdb, bytes);
  await rejects(rb.Store.open(sdb), 'RBX_E_SCHEMA');
  // Misuse is a TypeError with code RBX_E_INVALID, thrown before any work.
  assert.throws(() => rb.Store.open(db, { mode: 'fast' }), { name: 'TypeError', code: 'RBX_E_INVALID' });
  assert.throws(() => rb.Store.open(db, { storageKey: new Uint8Array(31) }), { code: 'RBX_E_INVALID' });
  assert.throws(() => rb.Store.open(42), { code: 'RBX_E_INVALID' });
  assert.throws(() => new rb.Store(), { code: 'RBX_E_INVALID' });
});

test('close: queued calls finish first, later calls and a second close reject RBX_E_STATE', async () => {
  const dir = scratch(true);
  const { st } = await newStore(dir, 'c');
  const before = st.identity();
  const closing = st.close();
  const after = rejects(st.identity(), 'RBX_E_STATE');
  assert.equal((await before).length, 32);
  await closing;
  await after;
  await rejects(st.close(), 'RBX_E_STATE');
  await rejects(st.bundle(), 'RBX_E_STATE');
});

test('createIdentity and identity: generated, imported from the product key file, refused', async () => {
  const dir = scratch(true);
  const st = await rb.Store.open(path.join(dir, 'i.db'), { create: true });
  await rejects(st.identity(), 'RBX_E_NOT_FOUND');
  await rejects(st.bundle(), 'RBX_E_NOT_FOUND');
  const other = productKeyFile(dir, 'other.json');
  const mine = productKeyFile(dir, 'box.json');
  await rejects(st.createIdentity({ secretKey: other.sk, publicKey: mine.pk }), 'RBX_E_KEY');
  await rejects(st.createIdentity({ keyFile: path.join(dir, 'missing.json') }), 'RBX_E_NOT_FOUND');
  await rejects(st.createIdentity({ keyPairJson: enc('{"publicKey": 1}') }), 'RBX_E_MALFORMED');
  assert.throws(() => st.createIdentity({ keyFile: 'a', keyPairJson: enc('{}') }), { code: 'RBX_E_INVALID' });
  const pk = await st.createIdentity({ keyFile: mine.file });
  assert.deepEqual(Buffer.from(pk), mine.pk);
  assert.deepEqual(Buffer.from(await st.identity()), mine.pk);
  await rejects(st.createIdentity(), 'RBX_E_EXISTS');
  await st.close();
  // The same key as bytes and as the two raw keys.
  for (const source of [{ keyPairJson: fs.readFileSync(other.file) }, { secretKey: other.sk, publicKey: other.pk }]) {
    const s = await rb.Store.open(path.join(scratch(true), 'j.db'), { create: true });
    assert.deepEqual(Buffer.from(await s.createIdentity(source)), other.pk);
    await s.close();
  }
  const g = await rb.Store.open(path.join(dir, 'g.db'), { create: true });
  const gpk = await g.createIdentity();
  assert.equal(gpk.length, 32);
  assert.equal(rb.fingerprint(gpk).length, 16);
  await g.close();
});

test('bundle, addContact, contacts, contactByIdentity', async () => {
  const dir = scratch(true);
  const a = await newStore(dir, 'a');
  const b = await newStore(dir, 'b');
  const bundle = await b.st.bundle();
  const info = rb.parseBundle(bundle);
  assert.deepEqual(info.identity, b.pk);
  assert.equal(typeof info.onetimePrekeyId, 'number');
  assert.ok(info.signedPrekeyId >= 1);
  assert.equal(rb.parseBundle(await b.st.bundle({ onetime: false })).onetimePrekeyId, null);
  assert.deepEqual(await a.st.contacts(), []);
  assert.equal(await a.st.contactByIdentity(b.pk), null);
  const bad = Uint8Array.from(bundle);
  bad[bad.length - 1] ^= 1;
  await rejects(a.st.addContact('bob', 1, bad), 'RBX_E_SIGNATURE');
  await rejects(a.st.addContact('bob', 1, bundle.subarray(0, 10)), 'RBX_E_MALFORMED');
  await rejects(a.st.addContact('', 1, bundle), 'RBX_E_INVALID');
  await rejects(a.st.addContact('bad\nname', 1, bundle), 'RBX_E_INVALID');
  const org = Buffer.from(crypto.generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x, 'base64url');
  await rejects(a.st.addContact('bob', 1, bundle, { org }), 'RBX_E_UNCERTIFIED');
  await rejects(a.st.addContact('bob', 1, bundle, { org: new Uint8Array(32) }), 'RBX_E_KEY');
  await a.st.addContact('bob', 1, bundle);
  const list = await a.st.contacts();
  assert.equal(list.length, 1);
  assert.equal(list[0].name, 'bob');
  assert.equal(list[0].device, 1);
  assert.deepEqual(list[0].identity, b.pk);
  assert.equal(list[0].hasBundle, true);
  assert.equal(list[0].session, null);
  assert.equal(list[0].org, null);
  assert.deepEqual(await a.st.contactByIdentity(b.pk), { name: 'bob', device: 1 });
  await a.st.encrypt('bob', 1, enc('x'));
  await rejects(a.st.addContact('bob', 1, await b.st.bundle()), 'RBX_E_EXISTS');
  // Another identity under a pinned name: refused without a rotation chain.
  const c = await newStore(dir, 'c');
  await rejects(a.st.addContact('bob', 1, await c.st.bundle()), 'RBX_E_IDENTITY_CHANGED');
  for (const s of [a, b, c]) await s.st.close();
});

test('encrypt, decrypt, encryptBatch, redelivery, replay and tampering', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  await rejects(a.st.encrypt('carol', 1, enc('x')), 'RBX_E_NOT_FOUND');
  await rejects(a.st.encrypt('bob', 1, new Uint8Array(rb.MAX_PLAINTEXT + 1)), 'RBX_E_TOO_BIG');
  assert.throws(() => a.st.encrypt('bob', 1, 'a string'), { code: 'RBX_E_INVALID' });
  assert.throws(() => a.st.encrypt('bob', -1, enc('x')), { code: 'RBX_E_INVALID' });
  const m = await a.st.encrypt('bob', 1, enc('one'));
  assert.ok(m.outboxId > 0);
  const r = await b.st.decrypt(m.wire, { name: 'alice', device: 1 });
  assert.equal(dec(r.plaintext), 'one');
  assert.equal(r.name, 'alice');
  assert.equal(r.device, 1);
  assert.deepEqual(r.peerIdentity, a.pk);
  assert.equal(r.newContact, false);
  assert.equal(r.redelivered, false);
  const again = await b.st.decrypt(m.wire, { name: 'alice', device: 1 });
  assert.equal(again.redelivered, true);
  assert.equal(dec(again.plaintext), 'one');
  await b.st.ackInbox(r.inboxId);
  await rejects(b.st.decrypt(m.wire, { name: 'alice', device: 1 }), 'RBX_E_REPLAY');
  await rejects(b.st.ackInbox(r.inboxId), 'RBX_E_NOT_FOUND');
  const t = await a.st.encrypt('bob', 1, enc('two'));
  const tampered = Uint8Array.from(t.wire);
  tampered[tampered.length - 3] ^= 0x40;
  await rejects(b.st.decrypt(tampered, { name: 'alice', device: 1 }), 'RBX_E_AUTH');
  const version = Uint8Array.from(t.wire);
  version[1] = 9; // field 1, version
  await rejects(b.st.decrypt(version, { name: 'alice', device: 1 }), 'RBX_E_VERSION');
  await rejects(b.st.decrypt(enc('not a message'), { name: 'alice', device: 1 }), 'RBX_E_MALFORMED');
  await rejects(b.st.decrypt(new Uint8Array(rb.MAX_PLAINTEXT + 4096), { name: 'alice', device: 1 }), 'RBX_E_TOO_BIG');
  assert.equal(dec((await b.st.decrypt(t.wire, { name: 'alice', device: 1 })).plaintext), 'two');
  // A batch is one transaction: three messages in order.
  const batch = await a.st.encryptBatch('bob', 1, [enc('b1'), enc('b2'), enc('b3')]);
  assert.equal(batch.length, 3);
  assert.ok(batch[0].outboxId < batch[1].outboxId && batch[1].outboxId < batch[2].outboxId);
  for (const [i, x] of batch.entries()) {
    assert.equal(dec((await b.st.decrypt(x.wire, { sender: a.pk })).plaintext), `b${i + 1}`);
  }
  await rejects(a.st.encryptBatch('bob', 1, [enc('ok'), new Uint8Array(rb.MAX_PLAINTEXT + 1)]), 'RBX_E_TOO_BIG');
  assert.throws(() => a.st.encryptBatch('bob', 1, []), { code: 'RBX_E_INVALID' });
  // The reply, and a session with header encryption.
  const reply = await b.st.encrypt('alice', 1, enc('back'));
  assert.equal(dec((await a.st.decrypt(reply.wire, { sender: b.pk })).plaintext), 'back');
  const he = await newStore(dir, 'he');
  await he.st.addContact('bob', 1, await b.st.bundle());
  const hm = await he.st.encrypt('bob', 1, enc('hidden header'), { headerEncryption: true });
  assert.equal((await he.st.sessionInfo('bob', 1)).headerEncryption, true);
  const hr = await b.st.decrypt(hm.wire);
  assert.equal(dec(hr.plaintext), 'hidden header');
  assert.equal(hr.newContact, true);
  assert.equal(hr.name, rb.fingerprint(he.pk));
  for (const s of [a, b, he]) await s.st.close();
});

test('decrypt by transport sender: unknown senders and a mismatched handshake', async () => {
  const dir = scratch(true);
  const a = await newStore(dir, 'a');
  const b = await newStore(dir, 'b');
  const c = await newStore(dir, 'c');
  await a.st.addContact('bob', 1, await b.st.bundle());
  const first = await a.st.encrypt('bob', 1, enc('first'));
  // The line claims c sent it, the handshake says a: refused, nothing stored.
  await rejects(b.st.decrypt(first.wire, { sender: c.pk }), 'RBX_E_MALFORMED');
  assert.deepEqual(await b.st.contacts(), []);
  const r = await b.st.decrypt(first.wire, { sender: a.pk });
  assert.equal(r.newContact, true);
  assert.equal(dec(r.plaintext), 'first');
  const reply = await b.st.encrypt(r.name, r.device, enc('reply'));
  await a.st.decrypt(reply.wire, { sender: b.pk });
  const normal = await a.st.encrypt('bob', 1, enc('normal'));
  assert.equal(rb.messageInfo(normal.wire).kind, 'message');
  await rejects(b.st.decrypt(normal.wire, { sender: c.pk }), 'RBX_E_NOT_FOUND');
  await rejects(b.st.decrypt(normal.wire, { name: 'nobody', device: 1 }), 'RBX_E_NOT_FOUND');
  assert.throws(() => b.st.decrypt(normal.wire, { sender: c.pk, name: 'x' }), { code: 'RBX_E_INVALID' });
  assert.equal(dec((await b.st.decrypt(normal.wire, { sender: a.pk })).plaintext), 'normal');
  for (const s of [a, b, c]) await s.st.close();
});

test('outbox and inbox: outboxNext, ackOutbox, ackInbox', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  // pair() left the first message in alice's outbox.
  const first = await a.st.outboxNext();
  assert.equal(first.name, 'bob');
  assert.equal(first.device, 1);
  await a.st.ackOutbox(first.outboxId);
  assert.equal(await a.st.outboxNext(), null);
  const m = await a.st.encrypt('bob', 1, enc('resend me'));
  const next = await a.st.outboxNext();
  assert.equal(next.outboxId, m.outboxId);
  assert.deepEqual(next.wire, m.wire);
  await a.st.ackOutbox(m.outboxId);
  await rejects(a.st.ackOutbox(m.outboxId), 'RBX_E_NOT_FOUND');
  assert.throws(() => a.st.ackOutbox(-1), { code: 'RBX_E_INVALID' });
  const r = await b.st.decrypt(m.wire, { name: 'alice', device: 1 });
  await b.st.ackInbox(r.inboxId);
  for (const s of [a, b]) await s.st.close();
});

test('status: sessionInfo, prekeyStats; resetSession, eraseNow', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  const si = await a.st.sessionInfo('bob', 1);
  assert.equal(si.initiator, true);
  assert.equal(si.sendCount, 1);
  assert.deepEqual(si.peerIdentity, b.pk);
  assert.ok(si.generation > 0);
  await rejects(a.st.sessionInfo('carol', 1), 'RBX_E_NOT_FOUND');
  const ps = await b.st.prekeyStats();
  assert.ok(ps.signedPrekeyId >= 1);
  assert.ok(ps.signedPrekeyCreated > 0);
  assert.equal(ps.onetimeConsumed, 1);
  assert.equal(typeof ps.onetimeUnoffered, 'number');
  await a.st.eraseNow();
  await a.st.resetSession('bob', 1);
  await rejects(a.st.sessionInfo('bob', 1), 'RBX_E_NOT_FOUND');
  await rejects(a.st.resetSession('carol', 1), 'RBX_E_NOT_FOUND');
  for (const s of [a, b]) await s.st.close();
});

test('rotation: maintain, rotateIdentity, rotations; the contact follows the chain', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  const mr = await b.st.maintain({ forceSignedPrekey: true });
  assert.equal(typeof mr.signedPrekeyMade, 'number');
  assert.ok(mr.signedPrekeyMade >= 2);
  const quiet = await b.st.maintain();
  assert.equal(quiet.signedPrekeyMade, null);
  assert.deepEqual(await b.st.rotations(), []);
  await rejects(b.st.rotateIdentity({ reason: 'bad\u0001reason' }), 'RBX_E_INVALID');
  const npk = await b.st.rotateIdentity({ reason: 'scheduled' });
  assert.notDeepEqual(npk, b.pk);
  assert.deepEqual(await b.st.identity(), npk);
  const recs = await b.st.rotations();
  assert.equal(recs.length, 1);
  const bundle = await b.st.bundle();
  assert.equal(rb.parseBundle(bundle).rotationRecords, 1);
  await a.st.addContact('bob', 1, bundle);
  assert.deepEqual((await a.st.contacts())[0].identity, npk);
  assert.equal((await a.st.contacts())[0].rotationSeq, 1);
  const m = await a.st.encrypt('bob', 1, enc('to the new key'));
  assert.equal(rb.messageInfo(m.wire).kind, 'prekey');
  assert.equal(dec((await b.st.decrypt(m.wire, { sender: a.pk })).plaintext), 'to the new key');
  // An imported key that is the current one is refused.
  const keyfile = path.join(dir, 'k.json');
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  fs.writeFileSync(keyfile, JSON.stringify({
    publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64'),
    secretKey: Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url').toString('base64'),
  }));
  const ipk = await b.st.rotateIdentity({ reason: 'imported', keyFile: keyfile });
  assert.deepEqual(Buffer.from(ipk), Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url'));
  await rejects(b.st.rotateIdentity({ keyFile: keyfile }), 'RBX_E_KEY');
  assert.equal((await b.st.rotations()).length, 2);
  for (const s of [a, b]) await s.st.close();
});

test('history: archive on, history, rotateArchive, importHistory', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  const pol = await b.st.setPolicy({ archive: true });
  assert.equal(pol.archive, 'on');
  assert.deepEqual(await b.st.history(), []);
  for (const t of ['d1', 'd2', 'd3']) await b.st.decrypt((await a.st.encrypt('bob', 1, enc(t))).wire, { sender: a.pk });
  await a.st.decrypt((await b.st.encrypt('alice', 1, enc('ack'))).wire, { sender: b.pk });
  let h = await b.st.history({ peer: 'alice' });
  assert.deepEqual(h.map((e) => dec(e.plaintext)), ['d1', 'd2', 'd3', 'ack']);
  assert.deepEqual(h.map((e) => e.direction), ['received', 'received', 'received', 'sent']);
  assert.ok(h.every((e) => e.peer === 'alice' && e.epoch >= 1 && e.session.length === 32));
  assert.deepEqual(await b.st.history({ peer: 'nobody' }), []);
  await rejects(b.st.history({ peer: '' }), 'RBX_E_INVALID');
  const split = await b.st.rotateArchive('split');
  assert.ok(split.newEpoch > h[0].epoch);
  const re = await b.st.rotateArchive('reencrypt');
  assert.equal(re.rewrapped, 4);
  assert.ok(re.epochsErased >= 1);
  const shred = await b.st.rotateArchive('shred');
  assert.equal(shred.entriesUnrecoverable, 0); // retention (365 days) has not passed
  h = await b.st.history();
  assert.deepEqual(h.map((e) => dec(e.plaintext)), ['d1', 'd2', 'd3', 'ack']);
  assert.throws(() => b.st.rotateArchive('burn'), { code: 'RBX_E_INVALID' });
  // The product's rows: a plaintext row imports, a bad nonce and a forged
  // envelope do not (each row's own code); the key source is checked first.
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const oldKey = {
    publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url'),
    secretKey: Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url'),
  };
  const peer = crypto.randomBytes(32);
  peer[31] &= 0x7f;
  const rows = [
    { peerPublicKey: peer, sessionId: 's1', sequence: 1, timestamp: 1700000000, outgoing: true, content: 'old plaintext row' },
    { peerPublicKey: peer, sessionId: 's1', sequence: 2, timestamp: 1700000001, content: 'AAAA', nonce: 'not base64!' },
    { peerPublicKey: peer, sessionId: 's1', sequence: 3, timestamp: 1700000002,
      content: Buffer.alloc(40, 1).toString('base64'), nonce: Buffer.alloc(24, 2).toString('base64') },
  ];
  const res = await b.st.importHistory(rows, oldKey);
  assert.equal(res.imported, 1);
  assert.deepEqual(res.rows, [null, 'RBX_E_MALFORMED', 'RBX_E_AUTH']);
  const again = await b.st.importHistory(rows.slice(0, 1), oldKey);
  assert.deepEqual(again.rows, ['RBX_E_EXISTS']);
  await rejects(b.st.importHistory(rows, { secretKey: oldKey.secretKey, publicKey: peer }), 'RBX_E_KEY');
  const all = await b.st.history();
  assert.equal(all.length, 5);
  assert.ok(all.some((e) => e.plaintext && dec(e.plaintext) === 'old plaintext row'));
  for (const s of [a, b]) await s.st.close();
});

test('policy, setPolicy, audit, auditVerify', async () => {
  const dir = scratch(true);
  const { st } = await newStore(dir, 'p');
  const p = await st.policy();
  assert.equal(p.archive, 'off');
  assert.equal(p.storage_mode, 'bounded');
  assert.equal(p.max_skip, '1000');
  const q = await st.setPolicy({ spk_rotate: '1d', max_skip: 100, archive: 'on' });
  assert.equal(q.spk_rotate, '1d');
  assert.equal(q.max_skip, '100');
  assert.deepEqual(await st.policy(), q);
  await rejects(st.setPolicy({ no_such_key: '1' }), 'RBX_E_NOT_FOUND');
  await rejects(st.setPolicy({ max_skip: 100000 }), 'RBX_E_POLICY');
  assert.deepEqual(await st.policy(), q); // unchanged by a refused change
  const events = await st.audit();
  assert.ok(events.length >= 2);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
  assert.ok(events.some((e) => e.event === 'identity created'));
  assert.ok(events.every((e) => e.hash.length === 32 && e.time > 0));
  const v = await st.auditVerify();
  assert.deepEqual(v, { ok: true, count: events.length, badSeq: null });
  await st.close();
});

test('signRequest, deviceListFirstEntry: the store signs as its identity; the library verifies', async () => {
  const dir = scratch(true);
  const { st, pk } = await newStore(dir, 'r');
  const req = { method: 'POST', target: '/v1/messages', ts: 1700000000, nonce: crypto.randomBytes(16),
    body: enc('{"a":1}'), user: 'alice', device: rb.deviceId(pk) };
  const sig = await st.signRequest(req);
  assert.equal(sig.length, 64);
  assert.equal(rb.verifyRequest(req, sig, pk), true);
  assert.equal(rb.verifyRequest({ ...req, body: enc('{"a":2}') }, sig, pk), false);
  assert.equal(rb.verifyRequest({ ...req, target: '/v1/messages?x=1' }, sig, pk), false);
  await rejects(st.signRequest({ ...req, user: 'Not A User' }), 'RBX_E_INVALID');
  assert.throws(() => st.signRequest({ ...req, nonce: new Uint8Array(8) }), { code: 'RBX_E_INVALID' });
  // Entry 1 of a device list, by the same key (its bytes: PROTOCOL.md 20.2;
  // the C suite parses and verifies it).
  const entry = await st.deviceListFirstEntry('alice', 1700000000);
  assert.ok(entry.length > 150 && entry.length <= 336);
  assert.notEqual(Buffer.from(entry).indexOf(Buffer.from(pk)), -1);
  assert.notEqual(Buffer.from(entry).indexOf(Buffer.from('alice')), -1);
  await rejects(st.deviceListFirstEntry('Alice'), 'RBX_E_INVALID');
  await st.close();
  const empty = await rb.Store.open(path.join(dir, 'e.db'), { create: true });
  await rejects(empty.signRequest(req), 'RBX_E_NOT_FOUND');
  await rejects(empty.deviceListFirstEntry('alice'), 'RBX_E_NOT_FOUND');
  await empty.close();
});

test('limits and rollback: RBX_E_LIMIT past max_skip, RBX_E_ROLLBACK from a restored copy', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  await b.st.setPolicy({ max_skip: 2 });
  const ms = [];
  for (let i = 0; i < 4; i++) ms.push(await a.st.encrypt('bob', 1, enc(`m${i}`)));
  await rejects(b.st.decrypt(ms[3].wire, { sender: a.pk }), 'RBX_E_LIMIT');
  assert.equal(dec((await b.st.decrypt(ms[2].wire, { sender: a.pk })).plaintext), 'm2');
  await b.st.close();
  // alice's database restored from an old copy: its sessions refuse to send.
  await a.st.close();
  const old = fs.readFileSync(a.db);
  const a2 = await rb.Store.open(a.db);
  await a2.encrypt('bob', 1, enc('newer'));
  await a2.close();
  fs.writeFileSync(a.db, old);
  const a3 = await rb.Store.open(a.db);
  await rejects(a3.encrypt('bob', 1, enc('reused key?')), 'RBX_E_ROLLBACK');
  assert.equal((await a3.contacts())[0].rolledBack, true);
  await a3.close();
});

test('organisation roots: orgInit, orgKey, orgCertify, setCertificate, certificate, orgRevoke, addRevocation, revocations', async () => {
  const dir = scratch(true);
  const admin = await rb.Store.open(path.join(dir, 'admin.db'), { create: true });
  await rejects(admin.orgKey(), 'RBX_E_NOT_FOUND');
  const org = await admin.orgInit();
  assert.deepEqual(await admin.orgKey(), org);
  await rejects(admin.orgInit(), 'RBX_E_EXISTS');
  const a = await newStore(dir, 'a');
  const b = await newStore(dir, 'b');
  const c = await newStore(dir, 'c');
  await rejects(b.st.certificate(), 'RBX_E_NOT_FOUND');
  await rejects(b.st.setCertificate(await admin.orgCertify(c.pk)), 'RBX_E_UNCERTIFIED');
  await rejects(b.st.setCertificate(enc('not a certificate')), 'RBX_E_MALFORMED');
  const cert = await admin.orgCertify(b.pk, 0);
  await b.st.setCertificate(cert);
  assert.deepEqual(await b.st.certificate(), cert);
  await a.st.addContact('bob', 1, await b.st.bundle(), { org });
  assert.deepEqual((await a.st.contacts())[0].org, org);
  await rejects(a.st.addContact('carol', 1, await c.st.bundle(), { org }), 'RBX_E_UNCERTIFIED');
  await b.st.decrypt((await a.st.encrypt('bob', 1, enc('certified'))).wire, { sender: a.pk });
  const rev = await admin.orgRevoke(b.pk, 'lost');
  assert.equal((await admin.revocations()).length, 1);
  await rejects(a.st.addRevocation(enc('not a revocation')), 'RBX_E_MALFORMED');
  await a.st.addRevocation(rev);
  const list = await a.st.revocations();
  assert.equal(list.length, 1);
  assert.deepEqual(list[0].identity, b.pk);
  assert.deepEqual(list[0].org, org);
  assert.equal(list[0].reason, 'lost');
  assert.ok(list[0].revokedAt > 0);
  await rejects(a.st.encrypt('bob', 1, enc('to a revoked key')), 'RBX_E_REVOKED');
  for (const s of [admin, a.st, b.st, c.st]) await s.close();
});
