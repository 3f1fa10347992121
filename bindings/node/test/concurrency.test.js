// SPDX-License-Identifier: MIT
// Many calls at once: 200 concurrent encrypts on one Store, two Stores on
// one database in one process, and two processes on one database. Every
// message decrypts exactly once.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { rb, scratch, enc, dec, pair } = require('./helpers.js');

// Decrypt every wire once (in the order given), check the plaintexts are
// exactly `want`, then check that none decrypts a second time.
async function decryptsOnce(bob, sender, wires, want) {
  const got = [];
  for (const w of wires) {
    const r = await bob.decrypt(w, { sender });
    assert.equal(r.redelivered, false);
    got.push(dec(r.plaintext));
    await bob.ackInbox(r.inboxId);
  }
  assert.deepEqual([...got].sort(), [...want].sort());
  assert.equal(new Set(got).size, want.length);
  for (const w of wires) {
    await assert.rejects(bob.decrypt(w, { sender }), (e) => ['RBX_E_REPLAY', 'RBX_E_AUTH'].includes(e.code));
  }
}

test('200 concurrent encrypt calls on one Store: 200 distinct messages, each decrypts once', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  const want = Array.from({ length: 200 }, (_, i) => `c-${i}`);
  const sent = await Promise.all(want.map((t) => a.st.encrypt('bob', 1, enc(t))));
  // Calls on one handle run in the order they were made.
  for (let i = 1; i < sent.length; i++) assert.ok(sent[i].outboxId > sent[i - 1].outboxId);
  assert.equal((await a.st.sessionInfo('bob', 1)).sendCount, 201);
  // Delivered in reverse: the receiver keeps skipped keys for the rest.
  await decryptsOnce(b.st, a.pk, sent.map((m) => m.wire).reverse(), want);
  await a.st.close();
  await b.st.close();
});

test('two Stores on one database in one process, in parallel', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  const a2 = await rb.Store.open(a.db);
  const want = [];
  const calls = [];
  for (let i = 0; i < 50; i++) {
    want.push(`h1-${i}`, `h2-${i}`);
    calls.push(a.st.encrypt('bob', 1, enc(`h1-${i}`)), a2.encrypt('bob', 1, enc(`h2-${i}`)));
  }
  const sent = await Promise.all(calls);
  assert.equal(new Set(sent.map((m) => m.outboxId)).size, 100);
  await decryptsOnce(b.st, a.pk, sent.map((m) => m.wire), want);
  await a2.close();
  await a.st.close();
  await b.st.close();
});

test('two processes encrypt on one store at once: every message decrypts exactly once', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  await a.st.close();
  const run = promisify(execFile);
  const script = path.join(__dirname, 'fixtures', 'sender.js');
  const outs = await Promise.all(['p1', 'p2'].map((tag) => run(process.execPath, [script, a.db, tag, '100'])));
  const wires = outs.flatMap((o) => o.stdout.trim().split('\n')).map((l) => new Uint8Array(Buffer.from(l, 'base64')));
  assert.equal(wires.length, 200);
  const want = ['p1', 'p2'].flatMap((t) => Array.from({ length: 100 }, (_, i) => `${t}-${i}`));
  await decryptsOnce(b.st, a.pk, wires, want);
  const a2 = await rb.Store.open(a.db);
  assert.equal((await a2.sessionInfo('bob', 1)).sendCount, 201);
  await a2.close();
  await b.st.close();
});

test('a Store collected without close(), and one left open at exit: no crash, nothing lost', async () => {
  const dir = scratch(true);
  const { a, b } = await pair(dir);
  await a.st.close();
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, [path.join(__dirname, 'fixtures', 'no-close.js'), a.db]);
  const ids = stdout.trim().split(' ').map(Number);
  assert.equal(ids.length, 2);
  const a2 = await rb.Store.open(a.db);
  const got = [];
  for (let m = await a2.outboxNext(); m; m = await a2.outboxNext()) {
    got.push(m.outboxId);
    if (m.outboxId !== ids[0] && m.outboxId !== ids[1]) {
      await a2.ackOutbox(m.outboxId); // pair()'s first message
      continue;
    }
    const r = await b.st.decrypt(m.wire, { sender: a.pk });
    assert.match(dec(r.plaintext), /^from a (dropped store|store left open)$/);
    await a2.ackOutbox(m.outboxId);
  }
  assert.ok(ids.every((id) => got.includes(id)));
  await a2.close();
  await b.st.close();
});
