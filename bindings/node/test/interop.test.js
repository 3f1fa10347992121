// SPDX-License-Identifier: MIT
// Interop with rbx(1) (the C tool, build/rbx): bundles both ways, messages
// encrypted in Node read by `rbx recv`, lines from `rbx send` read in Node,
// streams both ways, and the same database opened by both.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { rb, rbxPath, scratch, enc, dec, newStore } = require('./helpers.js');

function rbx(dir, args, input) {
  return execFileSync(rbxPath, ['--dir', dir, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

test('rbx is built (make check builds it before npm test)', () => {
  assert.ok(fs.existsSync(rbxPath), `${rbxPath} missing: run make build/rbx or set RBX`);
});

test('Node and rbx talk: bundles, a message each way, streams, one database', async () => {
  const dir = scratch();
  const bobDir = path.join(dir, 'bob');
  rbx(bobDir, ['init']);
  const alice = await newStore(dir, 'alice');
  // bob's bundle line into Node; alice's bundle into rbx as a line.
  await alice.st.addContact('bob', 1, new Uint8Array(Buffer.from(rbx(bobDir, ['bundle']).trim(), 'base64')));
  rbx(bobDir, ['add', 'alice', '-'], Buffer.from(await alice.st.bundle()).toString('base64') + '\n');
  // Node -> rbx: a first message (X3DH) and a second one.
  for (const text of ['hello from node', 'second from node']) {
    const m = await alice.st.encrypt('bob', 1, enc(text));
    const line = rb.encodeTransportLine(alice.pk, m.wire);
    assert.equal(rbx(bobDir, ['recv', '-'], line + '\n'), text);
    await alice.st.ackOutbox(m.outboxId);
  }
  // rbx -> Node.
  const line = rbx(bobDir, ['send', 'alice', '-'], 'hello from rbx').trim();
  const { sender, wire } = rb.decodeTransportLine(line);
  const r = await alice.st.decrypt(wire, { sender });
  assert.equal(dec(r.plaintext), 'hello from rbx');
  assert.equal(r.name, 'bob');
  // Streams: 20 agent deltas each way, one transport line per message.
  const deltas = Array.from({ length: 20 }, (_, i) => `delta ${i} ${'x'.repeat(i * 7)}`);
  const lines = rbx(bobDir, ['send', 'alice', '-', '--stream'], deltas.join('\n') + '\n').trim().split('\n');
  assert.equal(lines.length, 20);
  const got = [];
  for (const l of lines) {
    const d = rb.decodeTransportLine(l);
    got.push(dec((await alice.st.decrypt(d.wire, { sender: d.sender })).plaintext));
  }
  assert.deepEqual(got, deltas);
  const batch = await alice.st.encryptBatch('bob', 1, deltas.map(enc));
  const recv = rbx(bobDir, ['recv', '-', '--stream'],
    batch.map((m) => rb.encodeTransportLine(alice.pk, m.wire)).join('\n') + '\n');
  assert.equal(recv, deltas.join('\n') + '\n');
  // A line that does not authenticate: rbx refuses it with 65.
  const bad = await alice.st.encrypt('bob', 1, enc('tampered'));
  bad.wire[bad.wire.length - 1] ^= 1;
  assert.throws(() => rbx(bobDir, ['recv', '-'], rb.encodeTransportLine(alice.pk, bad.wire) + '\n'),
    (e) => e.status === 65);
  await alice.st.close();
  // The same database format: Node opens rbx's state, rbx reads Node's key.
  const bobStore = await rb.Store.open(path.join(bobDir, 'state.db'));
  const id = rbx(bobDir, ['id']).trim().split(' ');
  assert.equal(Buffer.from(await bobStore.identity()).toString('base64'), id[0]);
  assert.equal(rb.fingerprint(await bobStore.identity()), id[1]);
  const names = (await bobStore.contacts()).map((c) => c.name);
  assert.deepEqual(names, ['alice']);
  await bobStore.close();
});
