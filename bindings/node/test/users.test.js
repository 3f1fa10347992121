// SPDX-License-Identifier: MIT
// Users with several devices (PROTOCOL.md 21) through the real rbxd of this
// checkout (RBXD, or build/rbxd; skipped when neither exists): the Store's
// sans-I/O calls (accountInit, userUpdate, sendNeeds, userBundle, send,
// sendRebuild, receive, retryRequest) with RbxdClient carrying the bytes
// (sendToUser, postSend, syncOnce, flushPending). Two users: alice with a
// laptop and a phone (a tablet joins later), bob with one laptop. The join
// is approved in process (the entry handed from store to store): the link
// code flow of rbx account link/join is not bound here.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { rb, pkg, scratch, enc, dec, rejects } = require('./helpers.js');

const rbxdPath = process.env.RBXD || path.join(pkg, '..', '..', 'build', 'rbxd');
const haveRbxd = fs.existsSync(rbxdPath);
const assemble = rb.bundleWithOnetime;

let dir;
let server = null;
let url;

before(async () => {
  if (!haveRbxd) return;
  dir = scratch(true);
  const ready = path.join(dir, 'rbxd.port');
  const child = spawn(rbxdPath, ['--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(dir, 'rbxd.sqlite')}`,
    '--ready-file', ready, '--log', 'errors'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  server = { child, exited };
  for (let i = 0; i < 200 && !url; i++) {
    if (fs.existsSync(ready) && fs.readFileSync(ready, 'utf8').trim()) {
      url = `http://127.0.0.1:${fs.readFileSync(ready, 'utf8').trim()}`;
    } else {
      if (child.exitCode !== null) throw new Error(`rbxd exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  if (!url) throw new Error('rbxd did not start');
});

after(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});

// A device of `user`: its Store, identity and client (not yet enrolled).
async function device(name, user) {
  const store = await rb.Store.open(path.join(dir, `${name}.db`), { create: true });
  const pk = await store.createIdentity();
  const id = rb.deviceId(pk);
  const client = new rb.RbxdClient({ baseUrl: url, user, device: id, signer: store });
  return { name, user, store, pk, id, client };
}

async function enroll(d, account) {
  await d.client.enroll({
    entry: account.entry,
    registrationId: account.registrationId,
    bundle: await d.store.bundle({ onetime: false }),
    oneTime: await d.store.onetimeExport(20),
  });
  await d.client.refreshUser(d.store, d.user);
}

// The first device of a new user (rbx account create).
async function createUser(name, user) {
  const d = await device(name, user);
  const account = await d.store.accountInit(await d.store.deviceListFirstEntry(user));
  assert.equal(account.user, user);
  assert.equal(account.device, d.id);
  await enroll(d, account);
  return d;
}

// A new device of an existing user, approved by `approver` (rbx account
// join and approve): the approver signs the add entry, the new device
// countersigns it as its subject.
async function join(name, approver) {
  const d = await device(name, approver.user);
  await approver.client.refreshUser(approver.store, approver.user);
  const head = await approver.store.userPin(approver.user);
  const fields = {
    user: approver.user, seq: head.seq + 1, prevHash: head.hash, op: 'add', device: d.id, identity: d.pk,
    created: Math.floor(Date.now() / 1000), signer: approver.pk,
  };
  const sig = await approver.store.deviceListSign(fields);
  const entry = await d.store.deviceListCosign(fields, sig);
  await enroll(d, await d.store.accountInit(entry));
  return d;
}

async function sync(d) {
  const got = [];
  const r = await d.client.syncOnce(d.store, assemble, (m) => { got.push({ ...m, text: dec(m.plaintext) }); });
  return { ...r, got };
}

const suffix = crypto.randomBytes(3).toString('hex');
let aliceLaptop; let alicePhone; let bob; let tablet;

test('users: accounts, device lists pinned from their first entry', { skip: !haveRbxd && 'no rbxd' }, async () => {
  aliceLaptop = await createUser('alice-laptop', `alice-${suffix}`);
  alicePhone = await join('alice-phone', aliceLaptop);
  bob = await createUser('bob-laptop', `bob-${suffix}`);
  const acc = await alicePhone.store.account();
  assert.equal(acc.user, aliceLaptop.user);
  assert.equal(acc.device, alicePhone.id);
  assert.equal(await bob.store.userPin(aliceLaptop.user), null);
  await bob.client.refreshUser(bob.store, aliceLaptop.user);
  const pin = await bob.store.userPin(aliceLaptop.user);
  assert.equal(pin.seq, 2);
  assert.equal(pin.firstHash.length, 32);
  const devs = (await bob.store.userDevices(aliceLaptop.user)).map((x) => x.device).sort();
  assert.deepEqual(devs, [aliceLaptop.id, alicePhone.id].sort());
  // An organisation root: one per user.
  const org = (await rb.Store.open(path.join(dir, 'org.db'), { create: true }));
  const orgKey = await org.createIdentity();
  await org.close();
  await bob.store.userOrg(aliceLaptop.user, orgKey);
  await bob.store.userOrg(aliceLaptop.user, orgKey);
  await rejects(bob.store.userOrg(aliceLaptop.user, alicePhone.pk), 'RBX_E_EXISTS');
  await rejects(bob.store.userOrg(aliceLaptop.user, new Uint8Array(32)), 'RBX_E_KEY');
  // Another user's list under alice's pin is refused.
  const other = await bob.client.deviceList(bob.user);
  await assert.rejects(bob.store.userUpdate(aliceLaptop.user, other.entries.map((e) => e.entry)),
    (e) => e instanceof rb.RbxError && e.code.startsWith('RBX_E_'));
});

test('users: fan-out to every device, sync copies, attributed receive', { skip: !haveRbxd && 'no rbxd' }, async () => {
  const needs = await bob.store.sendNeeds(aliceLaptop.user);
  assert.equal(needs.length, 2);
  assert.ok(needs.every((n) => n.needsBundle && !n.hasSession));
  const s = await bob.client.sendToUser(bob.store, aliceLaptop.user, enc('hi alice'), assemble);
  assert.equal(s.kind, 'message');
  assert.equal(s.envelopes.length, 2);
  assert.equal(await bob.store.sendGet(), null, 'the send was posted and forgotten');

  const p = await sync(alicePhone);
  assert.equal(p.got.length, 1);
  assert.equal(p.got[0].text, 'hi alice');
  assert.equal(p.got[0].user, bob.user);
  assert.equal(p.got[0].device, bob.id);
  assert.equal(p.got[0].sync, false);
  assert.deepEqual(p.got[0].messageId, s.messageId);

  // The phone answers: bob's laptop, and alice's laptop as a sync copy.
  const r = await alicePhone.client.sendToUser(alicePhone.store, bob.user, enc('hello bob'), assemble);
  assert.deepEqual(r.envelopes.map((e) => `${e.user}/${e.device}`).sort(),
    [`${bob.user}/${bob.id}`, `${aliceLaptop.user}/${aliceLaptop.id}`].sort());

  const l = await sync(aliceLaptop);
  assert.deepEqual(l.got.map((m) => [m.text, m.user, m.sync, m.to]),
    [['hi alice', bob.user, false, aliceLaptop.user], ['hello bob', aliceLaptop.user, true, bob.user]]);
  assert.equal(l.got[1].device, alicePhone.id);
  const b = await sync(bob);
  assert.deepEqual(b.got.map((m) => [m.text, m.user, m.device, m.sync]), [['hello bob', aliceLaptop.user, alicePhone.id, false]]);
  assert.equal((await sync(bob)).got.length, 0, 'acknowledged: not delivered twice');
});

test('users: a device that joins later gets the next message (409, rebuilt)', { skip: !haveRbxd && 'no rbxd' }, async () => {
  tablet = await join('alice-tablet', alicePhone);
  // bob still holds alice's list of two devices: rbxd answers 409, the
  // client refreshes the list, fetches the tablet's bundle and rebuilds.
  assert.equal((await bob.store.userDevices(aliceLaptop.user)).length, 2);
  const s = await bob.client.sendToUser(bob.store, aliceLaptop.user, enc('three devices'), assemble);
  assert.equal((await bob.store.userDevices(aliceLaptop.user)).length, 3);
  assert.equal(await bob.store.sendGet(), null);
  for (const d of [aliceLaptop, alicePhone, tablet]) {
    const got = (await sync(d)).got;
    assert.deepEqual(got.map((m) => [m.text, m.user, m.device]), [['three devices', bob.user, bob.id]], d.name);
    assert.deepEqual(got[0].messageId, s.messageId);
  }
  // The tablet's own send reaches bob and both other devices of alice.
  const t = await tablet.client.sendToUser(tablet.store, bob.user, enc('from the tablet'), assemble);
  assert.equal(t.envelopes.length, 3);
  assert.equal((await sync(aliceLaptop)).got[0].sync, true);
  assert.equal((await sync(bob)).got[0].device, tablet.id);
});

test('users: a retry request makes the sender re-send from its outbox', { skip: !haveRbxd && 'no rbxd' }, async () => {
  const s = await bob.client.sendToUser(bob.store, aliceLaptop.user, enc('say again'), assemble);
  const first = await sync(aliceLaptop);
  assert.equal(first.got[0].text, 'say again');
  await sync(alicePhone);
  await sync(tablet);
  // As if the laptop had lost the message: it asks bob's device again (a
  // new session's first message; the bundle comes from the server).
  const { bundles } = await aliceLaptop.client.bundles(bob.user, [bob.id]);
  const x = bundles[0];
  await aliceLaptop.store.userBundle(bob.user, x.device, x.oneTime ? assemble(x.bundle, x.oneTime.id, x.oneTime.key) : x.bundle);
  const req = await aliceLaptop.store.retryRequest(bob.user, bob.id, [s.messageId]);
  assert.equal(req.kind, 'retry');
  assert.equal(req.targeted, true);
  assert.equal(req.envelopes.length, 1);
  assert.equal(await aliceLaptop.client.flushPending(aliceLaptop.store, assemble), 1);
  // A second request to the same device within the hour is refused.
  await rejects(aliceLaptop.store.retryRequest(bob.user, bob.id, [s.messageId]), 'RBX_E_LIMIT');
  // bob reads the request (not shown to the application) and re-sends.
  const b = await sync(bob);
  assert.equal(b.got.length, 0);
  assert.equal(await bob.store.sendGet(), null, 'the re-send was posted');
  const again = await sync(aliceLaptop);
  assert.equal(again.got.length, 1);
  assert.equal(again.got[0].text, 'say again');
  assert.equal(again.got[0].resent, true);
  assert.deepEqual(again.got[0].messageId, s.messageId);
  assert.equal((await sync(alicePhone)).got.length, 0, 'the re-send was targeted at the laptop only');
});

const badserver = process.env.BADSERVER || path.join(pkg, '..', '..', 'build', 'tools', 'badserver');

test('users: a device the server silently drops is detected', { skip: (!haveRbxd || !fs.existsSync(badserver)) && 'no rbxd or badserver' }, async () => {
  // The server stops delivering to alice's tablet (no removal entry): its
  // 409 calls the device extra while alice's verified list still holds it.
  const db = path.join(dir, 'rbxd.sqlite');
  const active = (v) => execFileSync(badserver, [db, 'exec',
    `UPDATE device SET active = ${v} WHERE uid = '${tablet.user}' AND device = ${tablet.id}`]);
  active(0);
  await assert.rejects(bob.client.sendToUser(bob.store, aliceLaptop.user, enc('not without the tablet'), assemble),
    (e) => e instanceof rb.RbxdError && e.code === 'device_dropped' && e.body.device === tablet.id);
  assert.ok((await bob.store.sendGet()) !== null, 'the send stays pending');
  active(1);
  assert.equal(await bob.client.flushPending(bob.store, assemble), 1);
  for (const d of [tablet, aliceLaptop, alicePhone]) {
    assert.deepEqual((await sync(d)).got.map((m) => m.text), ['not without the tablet'], d.name);
  }
});

test('users: a device the list does not hold is refused', { skip: !haveRbxd && 'no rbxd' }, async () => {
  // An envelope claimed to come from alice's device 12345 (not listed).
  const s = await alicePhone.store.send(bob.user, enc('who am I'));
  const env = s.envelopes.find((e) => e.user === bob.user);
  await rejects(bob.store.receive(env.body, { user: aliceLaptop.user, device: 12345 }), 'RBX_E_NOT_FOUND');
  // From a listed device that did not encrypt it: refused, nothing stored.
  await assert.rejects(bob.store.receive(env.body, { user: aliceLaptop.user, device: aliceLaptop.id }),
    (e) => e instanceof rb.RbxError);
  // The real sender's copy still decrypts.
  const r = await bob.store.receive(env.body, { user: aliceLaptop.user, device: alicePhone.id });
  assert.equal(dec(r.plaintext), 'who am I');
  await alicePhone.store.sendDone(s.id);
  for (const d of [aliceLaptop, alicePhone, bob]) await d.store.close();
});
