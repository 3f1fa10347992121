// SPDX-License-Identifier: MIT
// The sans-I/O objects (Identity, Prekeys, Session) and the pure functions,
// and the error table: every RBX_E_* of the header has its JS code.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { rb, root, pkg, scratch, enc, dec, throwsCode } = require('./helpers.js');
const { parseErrorCodes } = require('../scripts/gen-errors.js');

test('every RBX_E_* of include/ratchetbox.h has a JS code and the library message', () => {
  // The repository's header when there is one (make check), else the copy built.
  const repoHeader = path.join(root, 'include', 'ratchetbox.h');
  const header = fs.existsSync(repoHeader) ? repoHeader : path.join(pkg, 'deps', 'ratchetbox', 'include', 'ratchetbox.h');
  const codes = parseErrorCodes(fs.readFileSync(header, 'utf8'));
  const count = Number(/RBX_E_COUNT_\s*=\s*(\d+)/.exec(fs.readFileSync(header, 'utf8'))[1]);
  assert.equal(codes.length, count - 1);
  assert.equal(Object.keys(rb.codes).length, codes.length);
  const messages = new Set();
  const native = require('../build/Release/ratchetbox.node');
  const unknown = native.errorFor(-1000);
  assert.equal(unknown.code, 'RBX_E_UNKNOWN');
  for (const { name, value } of codes) {
    assert.equal(rb.codes[name], value, name);
    const e = native.errorFor(value);
    assert.ok(e instanceof rb.RbxError, name);
    assert.ok(e instanceof Error);
    assert.equal(e.code, name);
    assert.equal(e.errno, value);
    assert.equal(e.name, 'RbxError');
    assert.ok(e.message.length > 0 && e.message !== unknown.message, `${name}: ${e.message}`);
    messages.add(e.message);
  }
  assert.equal(messages.size, codes.length, 'each code has its own message');
  assert.equal(rb.codes.RBX_E_AUTH, -5);
  assert.equal(native.errorFor(-5).message, 'authentication failed');
});

test('pure functions: version, fingerprint, deviceId, userIdOk, parseBundle, bundleWithOnetime, messageInfo', () => {
  assert.match(rb.version(), /^\d+\.\d+\.\d+$/);
  const id = rb.Identity.generate();
  const pk = id.publicKey;
  assert.equal(pk.length, 32);
  const sha = crypto.createHash('sha256').update(pk).digest('hex').slice(0, 16);
  assert.equal(rb.fingerprint(pk), sha);
  assert.equal(id.fingerprint, sha);
  const dev = rb.deviceId(pk);
  assert.ok(Number.isInteger(dev) && dev >= 1 && dev <= 0x7fffffff);
  assert.equal(rb.deviceId(pk), dev);
  assert.equal(rb.userIdOk('alice.dev@example'), true);
  assert.equal(rb.userIdOk('Alice'), false);
  assert.equal(rb.userIdOk(''), false);
  assert.equal(rb.userIdOk('a'.repeat(64)), false);
  assert.equal(rb.userIdOk(42), false);
  throwsCode(() => rb.fingerprint(new Uint8Array(31)), 'RBX_E_INVALID');
  const pre = new rb.Prekeys(id);
  pre.addSigned(1);
  pre.addOnetime(7);
  assert.equal(pre.onetimeCount, 1);
  throwsCode(() => pre.addSigned(1), 'RBX_E_INVALID');
  const base = pre.bundle(1);
  const b = rb.parseBundle(base);
  assert.deepEqual(b.identity, pk);
  assert.equal(b.signedPrekeyId, 1);
  assert.equal(b.onetimePrekeyId, null);
  throwsCode(() => pre.bundle(2), 'RBX_E_UNKNOWN_PREKEY');
  const key = Buffer.from(crypto.generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x, 'base64url');
  const full = rb.bundleWithOnetime(base, 9, key);
  assert.equal(rb.parseBundle(full).onetimePrekeyId, 9);
  throwsCode(() => rb.bundleWithOnetime(full, 10, key), 'RBX_E_MALFORMED');
  const bad = Uint8Array.from(base);
  bad[bad.length - 2] ^= 4;
  throwsCode(() => rb.parseBundle(bad), 'RBX_E_SIGNATURE');
  const ver = Uint8Array.from(base);
  ver[1] = 9;
  throwsCode(() => rb.parseBundle(ver), 'RBX_E_VERSION');
  throwsCode(() => rb.parseBundle(new Uint8Array(3)), 'RBX_E_MALFORMED');
  throwsCode(() => rb.messageInfo(enc('nope')), 'RBX_E_MALFORMED');
  pre.destroy();
  throwsCode(() => pre.bundle(1), 'RBX_E_STATE');
  id.destroy();
  throwsCode(() => id.publicKey, 'RBX_E_STATE');
  throwsCode(() => new rb.Prekeys(id), 'RBX_E_STATE');
});

test('transport lines: encode, decode, and what is not one', () => {
  const sender = crypto.randomBytes(32);
  const wire = crypto.randomBytes(100);
  const line = rb.encodeTransportLine(sender, wire);
  assert.equal(Buffer.from(line, 'base64')[0], 1);
  const d = rb.decodeTransportLine(line + '\n');
  assert.deepEqual(Buffer.from(d.sender), sender);
  assert.deepEqual(Buffer.from(d.wire), wire);
  throwsCode(() => rb.decodeTransportLine('!!!!'), 'RBX_E_MALFORMED');
  throwsCode(() => rb.decodeTransportLine(Buffer.alloc(33, 1).toString('base64')), 'RBX_E_MALFORMED');
  const v2 = Buffer.from(line, 'base64');
  v2[0] = 2;
  throwsCode(() => rb.decodeTransportLine(v2.toString('base64')), 'RBX_E_MALFORMED');
  throwsCode(() => rb.decodeTransportLine(line.slice(0, -2) + 'B='), 'RBX_E_MALFORMED');
  throwsCode(() => rb.encodeTransportLine(new Uint8Array(31), wire), 'RBX_E_INVALID');
});

test('Session: X3DH, both directions, header encryption, and each refusal', () => {
  const alice = rb.Identity.generate();
  const bob = rb.Identity.generate();
  const pre = new rb.Prekeys(bob);
  pre.addSigned(1);
  pre.addOnetime(2);
  pre.addOnetime(3);
  const s = rb.Session.initiate(alice, pre.bundle(1, 2), { headerEncryption: true });
  assert.equal(s.info().awaitingReply, true);
  assert.equal(s.info().headerEncryption, true);
  const w1 = s.encrypt(enc('hi bob'));
  assert.ok(w1.length <= s.wireSize(6));
  assert.equal(rb.messageInfo(w1).kind, 'prekey');
  assert.deepEqual(rb.messageInfo(w1).initiatorIdentity, alice.publicKey);
  // Pinned to someone else: refused after authentication, nothing consumed.
  throwsCode(() => rb.Session.accept(pre, w1, rb.Identity.generate().publicKey), 'RBX_E_IDENTITY_CHANGED');
  assert.equal(pre.onetimeCount, 2);
  const acc = rb.Session.accept(pre, w1, alice.publicKey);
  assert.equal(dec(acc.plaintext), 'hi bob');
  assert.equal(acc.consumedOnetime, 2);
  assert.equal(pre.onetimeCount, 1);
  throwsCode(() => rb.Session.accept(pre, w1), 'RBX_E_PREKEY_REUSED');
  const other = new rb.Prekeys(bob);
  other.addSigned(5);
  throwsCode(() => rb.Session.accept(other, w1), 'RBX_E_UNKNOWN_PREKEY');
  const bs = acc.session;
  const w2 = bs.encrypt(enc('hi alice'));
  assert.equal(dec(s.decrypt(w2)), 'hi alice');
  assert.equal(s.info().awaitingReply, false);
  throwsCode(() => s.decrypt(w2), 'RBX_E_REPLAY');
  const w3 = s.encrypt(enc('x'));
  const t = Uint8Array.from(w3);
  t[t.length - 1] ^= 1;
  throwsCode(() => bs.decrypt(t), 'RBX_E_AUTH');
  assert.equal(dec(bs.decrypt(w3)), 'x');
  throwsCode(() => s.encrypt(new Uint8Array(rb.MAX_PLAINTEXT + 1)), 'RBX_E_TOO_BIG');
  // The allocation-free forms, and a buffer too small for them.
  const wbuf = new Uint8Array(s.wireSize(5));
  const wn = s.encryptInto(enc('into!'), wbuf);
  const pbuf = new Uint8Array(wn);
  throwsCode(() => bs.decryptInto(wbuf.subarray(0, wn), new Uint8Array(2)), 'RBX_E_BUFFER');
  assert.equal(dec(pbuf.subarray(0, bs.decryptInto(wbuf.subarray(0, wn), pbuf))), 'into!');
  throwsCode(() => s.encryptInto(enc('too long for it'), new Uint8Array(20)), 'RBX_E_BUFFER');
  throwsCode(() => s.encryptInto(wbuf.subarray(0, 4), wbuf), 'RBX_E_INVALID');
  assert.equal(s.encrypt(new Uint8Array(0)).length > 0, true);
  const info = bs.info();
  assert.deepEqual(info.peerIdentity, alice.publicKey);
  assert.equal(info.initiator, false);
  // Importing the product's key pair, and a mismatched one.
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const pkb = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const skb = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
  const json = enc(JSON.stringify({ publicKey: pkb.toString('base64'), secretKey: skb.toString('base64') }));
  assert.deepEqual(Buffer.from(rb.Identity.import({ keyPairJson: json }).publicKey), pkb);
  const dir = scratch(true);
  fs.writeFileSync(path.join(dir, 'raw.key'), Buffer.concat([pkb, skb]));
  assert.deepEqual(Buffer.from(rb.Identity.import({ keyFile: path.join(dir, 'raw.key') }).publicKey), pkb);
  throwsCode(() => rb.Identity.import({ secretKey: skb, publicKey: alice.publicKey }), 'RBX_E_KEY');
  throwsCode(() => rb.Identity.import({ keyFile: path.join(dir, 'none') }), 'RBX_E_NOT_FOUND');
  throwsCode(() => rb.Identity.import({}), 'RBX_E_INVALID');
  throwsCode(() => new rb.Session(), 'RBX_E_INVALID');
  bs.destroy();
  throwsCode(() => bs.encrypt(enc('x')), 'RBX_E_STATE');
  s.destroy();
  pre.destroy();
  other.destroy();
});
