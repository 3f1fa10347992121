// SPDX-License-Identifier: MIT
// RbxdClient against a stand-in for rbxd on 127.0.0.1 (a port the OS
// picks): every request's RBX-Sig header must verify under the device's
// identity key with rbx_request_verify, as rbxd's auth.c checks it (method,
// target with its query, body bytes, user, device). The stand-in answers
// with the JSON shapes of rbxd's api.c; the tests against the real rbxd
// come once that branch is in this tree. Also: the checked-in lib/ is what
// tsc makes of ts/.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { rb, pkg, scratch, enc, dec, newStore } = require('./helpers.js');

const AUTH = /^RBX-Sig user="([a-z0-9][a-z0-9._@-]*)", device=(\d+), ts=(\d+), nonce="([A-Za-z0-9+/=]+)", sig="([A-Za-z0-9+/=]+)"$/;

// A stand-in: devices enroll with their bundle's identity key; every other
// request must be signed by an enrolled device.
function standIn(clock) {
  const devices = new Map(); // `${user}/${device}` -> {pk, registrationId, bundle}
  const mail = new Map(); // `${user}/${device}` -> items
  const seen = [];
  let nextId = 1;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = (status, obj, headers = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(obj === undefined ? undefined : JSON.stringify(obj));
      };
      if (req.url === '/healthz') return reply(200, { status: 'ok' });
      const m = AUTH.exec(req.headers.authorization || '');
      if (!m) return reply(401, { error: 'unauthenticated', message: 'missing RBX-Sig' });
      const [, user, device, ts, nonce, sig] = m;
      if (Math.abs(Number(ts) - clock.now) > 300) {
        return reply(401, { error: 'clock_skew', message: 'skew', server_time: clock.now });
      }
      const signed = { method: req.method, target: req.url, ts: Number(ts), nonce: Buffer.from(nonce, 'base64'),
        body: body.length ? body : undefined, user, device: Number(device) };
      seen.push({ ...signed, sig: Buffer.from(sig, 'base64') });
      const key = `${user}/${device}`;
      const json = body.length ? JSON.parse(body) : null;
      if (req.method === 'POST' && req.url === `/v1/users/${user}/devices`) {
        const bundle = Buffer.from(json.bundle, 'base64');
        const pk = rb.parseBundle(bundle).identity;
        if (!rb.verifyRequest(signed, Buffer.from(sig, 'base64'), pk)) return reply(401, { error: 'bad_signature', message: 'x' });
        if (rb.deviceId(pk) !== Number(device)) return reply(422, { error: 'invalid_entry', message: 'device id' });
        devices.set(key, { pk, registrationId: json.registration_id, bundle: json.bundle, oneTime: json.one_time || [] });
        return reply(200, { device: Number(device), registration_id: json.registration_id, version: 1 });
      }
      const dev = devices.get(key);
      if (!dev || !rb.verifyRequest(signed, Buffer.from(sig, 'base64'), dev.pk)) {
        return reply(401, { error: 'bad_signature', message: 'does not verify' });
      }
      let r;
      if (req.method === 'POST' && (r = /^\/v1\/users\/([^/]+)\/bundles$/.exec(req.url))) {
        const list = [...devices.entries()].filter(([k]) => k.startsWith(`${r[1]}/`));
        if (!list.length) return reply(404, { error: 'no_such_user', message: 'no such user' });
        return reply(200, { user: r[1], version: 1, bundles: list.map(([k, d]) => {
          const ot = d.oneTime.shift() || null;
          return { device: Number(k.split('/')[1]), registration_id: d.registrationId, bundle: d.bundle, low: false, one_time: ot };
        }) });
      }
      if (req.method === 'POST' && req.url === '/v1/messages') {
        const want = [...devices.keys()].filter((k) => k.startsWith(`${json.to}/`));
        const got = json.envelopes.map((e) => `${e.user}/${e.device}`);
        const missing = want.filter((k) => !got.includes(k));
        if (missing.length) {
          return reply(409, { error: 'device_mismatch', message: 'nothing was stored',
            missing: missing.map((k) => ({ user: k.split('/')[0], device: Number(k.split('/')[1]) })), extra: [], stale: [] });
        }
        for (const e of json.envelopes) {
          const k = `${e.user}/${e.device}`;
          if (!mail.has(k)) mail.set(k, []);
          mail.get(k).push({ id: nextId++, message_id: json.message_id, sender_user: user, sender_device: Number(device),
            received_at: clock.now, body: e.body });
        }
        return reply(200, { stored: json.envelopes.length, duplicate: false });
      }
      if (req.method === 'GET' && req.url.startsWith(`/v1/users/${user}/devices/${device}/mailbox`)) {
        const after = Number(new URL(req.url, 'http://x').searchParams.get('after') || 0);
        return reply(200, { items: (mail.get(key) || []).filter((i) => i.id > after), more: false });
      }
      if (req.method === 'POST' && req.url === `/v1/users/${user}/devices/${device}/mailbox/ack`) {
        const before = (mail.get(key) || []).length;
        mail.set(key, (mail.get(key) || []).filter((i) => !json.ids.includes(i.id)));
        return reply(200, { deleted: before - mail.get(key).length });
      }
      if (req.url === `/v1/users/${user}/devices/${device}/keys`) {
        if (req.method === 'PUT') {
          dev.oneTime.push(...(json.one_time || []));
          return reply(200, { one_time_count: dev.oneTime.length });
        }
        return reply(200, { one_time_count: dev.oneTime.length, one_time_max_id: 9, low: false, signed_prekey_id: 1,
          signed_prekey_created: 5, signed_prekey_uploaded: 6, signed_prekey_age: 7 });
      }
      if (req.method === 'GET' && /^\/v1\/users\/[^/]+\/devicelist/.test(req.url)) {
        if (req.headers['if-none-match'] === '"v1"') return reply(304, undefined, { ETag: '"v1"' });
        return reply(200, { user, version: 1, entries: [{ seq: 1, entry: Buffer.from('entry').toString('base64') }],
          devices: [{ device: Number(device), registration_id: dev.registrationId }] }, { ETag: '"v1"' });
      }
      return reply(404, { error: 'not_found', message: 'no such endpoint' });
    });
  });
  return { server, seen };
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

test('RbxdClient: signed requests, enroll, bundles, send, mailbox, ack, keys, device list, errors', async () => {
  const clock = { now: 1800000000 };
  const { server, seen } = standIn(clock);
  const baseUrl = await listen(server);
  try {
    const dir = scratch(true);
    const cli = await newStore(dir, 'cli');
    const phone = await newStore(dir, 'phone');
    const mk = (s, user) => new rb.RbxdClient({ baseUrl, user, device: rb.deviceId(s.pk), signer: s.st, now: () => clock.now });
    const c = mk(cli, 'alice');
    const p = mk(phone, 'alice.phone');
    assert.equal(await c.health(), true);
    for (const [client, s] of [[c, cli], [p, phone]]) {
      const res = await client.enroll({ registrationId: 77, bundle: await s.st.bundle({ onetime: false }),
        oneTime: [{ id: 1, key: rb.parseBundle(await s.st.bundle()).identity }] });
      assert.deepEqual(res, { device: rb.deviceId(s.pk), registrationId: 77, version: 1 });
    }
    assert.equal(await c.putKeys({ oneTime: [{ id: 2, key: cli.pk }] }), 2);
    assert.equal((await c.keyStatus()).oneTimeCount, 2);
    const fetched = await c.bundles('alice.phone');
    assert.equal(fetched.bundles.length, 1);
    const fb = fetched.bundles[0];
    assert.equal(fb.device, rb.deviceId(phone.pk));
    assert.deepEqual(rb.parseBundle(fb.bundle).identity, phone.pk);
    await cli.st.addContact('phone', fb.device, fb.bundle);
    // A message through the stand-in, as transport bytes.
    const m = await cli.st.encrypt('phone', fb.device, enc('delta 1'));
    const mid = new Uint8Array(16).fill(3);
    await assert.rejects(c.send('alice.phone', mid, []), (e) => e instanceof TypeError || e.code === 'device_mismatch');
    await assert.rejects(c.send('alice.phone', mid, [{ user: 'alice.phone', device: 5, registrationId: 77, body: m.wire }]),
      (e) => e instanceof rb.RbxdError && e.status === 409 && e.code === 'device_mismatch' &&
        e.body.missing[0].device === fb.device);
    assert.deepEqual(await c.send('alice.phone', mid, [{ user: 'alice.phone', device: fb.device, registrationId: 77, body: m.wire }]),
      { stored: 1, duplicate: false });
    const box = await p.mailbox({ after: 0, limit: 10, wait: 0 });
    assert.equal(box.items.length, 1);
    const it = box.items[0];
    assert.equal(it.senderUser, 'alice');
    assert.equal(it.senderDevice, rb.deviceId(cli.pk));
    assert.deepEqual(it.messageId, mid);
    const r = await phone.st.decrypt(it.body);
    assert.equal(dec(r.plaintext), 'delta 1');
    assert.equal(await p.ack([it.id]), 1);
    assert.equal((await p.mailbox()).items.length, 0);
    const list = await c.deviceList('alice');
    assert.equal(list.version, 1);
    assert.equal(list.etag, '"v1"');
    assert.equal(dec(list.entries[0].entry), 'entry');
    assert.equal(await c.deviceList('alice', { etag: '"v1"', since: 0 }), null);
    await assert.rejects(c.bundles('nobody'), (e) => e.status === 404 && e.code === 'no_such_user');
    // Our clock is 10 minutes off: one refusal, then the server's clock.
    const skewed = new rb.RbxdClient({ baseUrl, user: 'alice', device: rb.deviceId(cli.pk), signer: cli.st,
      now: () => clock.now - 600 });
    const before = seen.length;
    assert.equal((await skewed.keyStatus()).oneTimeCount, 2);
    assert.equal(seen.length, before + 1); // the skewed request was refused before it was recorded
    // Every request the stand-in saw verifies under its device key, and not
    // under a changed target, body or timestamp.
    assert.ok(seen.length >= 10);
    for (const s of seen) {
      const key = s.user === 'alice' ? cli.pk : phone.pk;
      assert.equal(rb.verifyRequest(s, s.sig, key), true);
      assert.equal(rb.verifyRequest({ ...s, target: s.target + 'x' }, s.sig, key), false);
      assert.equal(rb.verifyRequest({ ...s, ts: s.ts + 1 }, s.sig, key), false);
    }
    assert.ok(seen.some((s) => s.target.includes('?after=0&limit=10&wait=0')));
    assert.ok(seen.some((s) => s.body && s.body.length > 0));
    assert.throws(() => new rb.RbxdClient({ baseUrl: baseUrl + '/api', user: 'alice', device: 1, signer: cli.st }), TypeError);
    assert.throws(() => new rb.RbxdClient({ baseUrl, user: 'Alice', device: 1, signer: cli.st }), TypeError);
    await cli.st.close();
    await phone.st.close();
  } finally {
    server.close();
  }
});

test('lib/rbxd-client.js and .d.ts are what tsc makes of ts/rbxd-client.ts', () => {
  const out = scratch();
  const tsc = path.join(pkg, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(pkg, 'ts', 'tsconfig.json'), '--outDir', out]);
  for (const f of ['rbxd-client.js', 'rbxd-client.d.ts']) {
    assert.equal(fs.readFileSync(path.join(pkg, 'lib', f), 'utf8'), fs.readFileSync(path.join(out, f), 'utf8'),
      `lib/${f} is stale: npm run build:ts`);
  }
});
