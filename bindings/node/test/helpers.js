// SPDX-License-Identifier: MIT
// Shared by the tests: scratch directories (removed at exit), stores and
// pairs of stores that talk, and the repository's paths.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const rb = require('..');

const pkg = path.resolve(__dirname, '..');
const root = path.resolve(pkg, '..', '..');
// rbx(1) of this checkout (make check passes RBX; the Makefile builds it).
const rbxPath = process.env.RBX || path.join(root, 'build', 'rbx');

const dirs = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A new scratch directory; on tmpfs (/dev/shm) when fast is set. */
function scratch(fast = false) {
  const base = fast && fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const d = fs.mkdtempSync(path.join(base, 'rbx-node-'));
  dirs.push(d);
  return d;
}

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

async function newStore(dir, name, opts = {}) {
  const st = await rb.Store.open(path.join(dir, `${name}.db`), { create: true, ...opts });
  const pk = await st.createIdentity();
  return { st, pk, db: path.join(dir, `${name}.db`) };
}

/** alice and bob, each knowing the other's bundle; alice has sent the first message. */
async function pair(dir, opts = {}) {
  const a = await newStore(dir, 'alice', opts);
  const b = await newStore(dir, 'bob', opts);
  await a.st.addContact('bob', 1, await b.st.bundle());
  await b.st.addContact('alice', 1, await a.st.bundle());
  const first = await a.st.encrypt('bob', 1, enc('hello'));
  const r = await b.st.decrypt(first.wire, { name: 'alice', device: 1 });
  assert.equal(dec(r.plaintext), 'hello');
  return { a, b };
}

async function rejects(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof rb.RbxError, `expected an RbxError, got ${e && e.stack}`);
    assert.equal(e.code, code);
    assert.equal(e.errno, rb.codes[code]);
    return true;
  });
}

function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.equal(e.code, code, `expected ${code}, got ${e && e.stack}`);
    return true;
  });
}

module.exports = { rb, pkg, root, rbxPath, scratch, enc, dec, newStore, pair, rejects, throwsCode };
