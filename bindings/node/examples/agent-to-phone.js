// SPDX-License-Identifier: MIT
// The product's flow: the CLI on the agent's machine streams 300 agent
// deltas to the user's phone through rbxd; the phone decrypts them, keeps
// them in its history archive, and reads the session back from it.
//
//   node examples/agent-to-phone.js --rbxd PATH/TO/rbxd
//
// starts rbxd on 127.0.0.1 (a port it picks, SQLite in a temporary
// directory, enrollment policy open), runs both devices in this process,
// each with its own Store and RbxdClient, checks every delta arrived once,
// in order, and is in the phone's archive, stops rbxd, and exits 0.
// (--url URL uses an rbxd that is already running instead.)
//
// Each device enrolls as the first device of its own user id: adding the
// phone to the CLI's user needs an add entry signed by both devices, which
// comes with the multi-device calls (encrypt to a user, device lists). The
// wire bytes, the signed requests and the mailbox flow are the ones
// spec/SERVER.md section 10 describes.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const rb = require('..');

const DELTAS = 300;

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function startRbxd(bin, dir) {
  const ready = path.join(dir, 'rbxd.port');
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(dir, 'rbxd.sqlite')}`,
    '--enroll', 'open', '--ready-file', ready, '--log', 'errors'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(ready) && fs.readFileSync(ready, 'utf8').trim()) {
      return { url: `http://127.0.0.1:${fs.readFileSync(ready, 'utf8').trim()}`, child, exited };
    }
    if (child.exitCode !== null) throw new Error(`rbxd exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  throw new Error('rbxd did not start');
}

// A device: its Store (state on disk) and its client of rbxd.
async function device(dir, name, user, url) {
  const store = await rb.Store.open(path.join(dir, `${name}.db`), { create: true });
  const pk = await store.createIdentity();
  const id = rb.deviceId(pk);
  const client = new rb.RbxdClient({ baseUrl: url, user, device: id, signer: store });
  const registrationId = crypto.randomInt(1, 0x7fffffff);
  await client.enroll({
    entry: await store.deviceListFirstEntry(user),
    registrationId,
    bundle: await store.bundle({ onetime: false }),
  });
  return { name, user, store, pk, id, client, registrationId };
}

// The bundle of `user`'s device, claimed from rbxd (with a one-time prekey
// when the server holds one), recorded as contact `name`.
async function addFromServer(me, name, user) {
  const { bundles } = await me.client.bundles(user);
  const b = bundles[0];
  const bundle = b.oneTime ? rb.bundleWithOnetime(b.bundle, b.oneTime.id, b.oneTime.key) : b.bundle;
  await me.store.addContact(name, b.device, bundle);
  return b;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbx-example-'));
  let server = null;
  try {
    let url = arg('--url');
    if (!url) {
      const bin = arg('--rbxd') || process.env.RBXD;
      if (!bin) throw new Error('usage: node examples/agent-to-phone.js --rbxd PATH | --url URL');
      server = await startRbxd(bin, dir);
      url = server.url;
    }
    const suffix = crypto.randomBytes(4).toString('hex');
    const cli = await device(dir, 'cli', `agent-${suffix}`, url);
    const phone = await device(dir, 'phone', `phone-${suffix}`, url);
    await phone.store.setPolicy({ archive: 'on' });

    // The CLI fetches the phone's bundle; the phone the CLI's (to name it).
    const target = await addFromServer(cli, 'phone', phone.user);
    await addFromServer(phone, 'cli', cli.user);

    // The agent streams: each delta is encrypted (state committed first),
    // sent as one envelope, and leaves the outbox once rbxd stored it.
    const deltas = Array.from({ length: DELTAS }, (_, i) =>
      `{"type":"agent_delta","seq":${i},"text":"${'token '.repeat(2 + (i * 7) % 60)}"}`);
    const sender = (async () => {
      for (const text of deltas) {
        const m = await cli.store.encrypt('phone', target.device, new TextEncoder().encode(text));
        const sent = await cli.client.send(phone.user, crypto.randomBytes(16), [
          { user: phone.user, device: target.device, registrationId: target.registrationId, body: m.wire },
        ]);
        if (sent.stored !== 1) throw new Error('rbxd did not store the envelope');
        await cli.store.ackOutbox(m.outboxId);
      }
    })();

    // The phone long-polls its mailbox, decrypts (the archive keeps each
    // plaintext in the same transaction), then acknowledges both.
    const got = [];
    let after = 0;
    while (got.length < DELTAS) {
      const box = await phone.client.mailbox({ after, limit: 100, wait: 5 });
      for (const item of box.items) {
        const r = await phone.store.decrypt(item.body, { name: 'cli', device: item.senderDevice });
        got.push(new TextDecoder().decode(r.plaintext));
        r.plaintext.fill(0);
        await phone.store.ackInbox(r.inboxId);
        after = item.id;
      }
      if (box.items.length) await phone.client.ack(box.items.map((i) => i.id));
    }
    await sender;
    if (JSON.stringify(got) !== JSON.stringify(deltas)) throw new Error('the deltas arrived changed or out of order');

    // Session replay from the phone's archive.
    const history = await phone.store.history({ peer: 'cli' });
    const replay = history.map((e) => new TextDecoder().decode(e.plaintext));
    if (JSON.stringify(replay) !== JSON.stringify(deltas)) throw new Error('the archive does not hold the session');
    if ((await phone.client.mailbox()).items.length !== 0) throw new Error('the mailbox is not empty');
    if ((await cli.store.outboxNext()) !== null) throw new Error('the outbox is not empty');

    console.log(`agent-to-phone: ${DELTAS} deltas from ${cli.user}/${cli.id} to ${phone.user}/${phone.id} ` +
      `through rbxd at ${url}; all decrypted once, in order; phone archive holds ${history.length} entries ` +
      `(epoch ${history[0].epoch}), first: ${replay[0].slice(0, 40)}...`);
    await cli.store.close();
    await phone.store.close();
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`agent-to-phone: ${e.stack || e}`);
  process.exit(1);
});
