// SPDX-License-Identifier: MIT
// make bench-node: per-message cost through the binding against the C
// calls, both measured in this run, interleaved (C, then Node, then C, ...)
// over REPS repetitions; medians and ratios. The C reference is
// build/Release/ratchetbox_bench.node (src/bench.cc), compiled from the same
// library archive as the addon; its durable loop runs on a pool thread, as
// the binding's calls do.
//
//  symmetric 64 B    Session.encrypt + Session.decrypt (one direction, after
//                    the handshake) vs rbx_session_encrypt + _decrypt.
//                    Target: <= 1.5x C.
//  durable 64 B      Store.encrypt at alice + Store.decrypt at bob, each a
//                    committed, fsynced transaction (bounded mode) vs
//                    rbx_store_encrypt + rbx_store_decrypt. Target: within
//                    5 % of C. "pipelined" keeps 32 calls in flight on the
//                    one Store at work (a stream of agent deltas: the
//                    product's case), so the event loop's work overlaps the
//                    pool thread's; "sequential" awaits each call before the
//                    next, so a thread-pool round trip (two thread wake-ups)
//                    is added to every call.
//
// Usage: node bench/bench.js [--quick] [--out FILE]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const rb = require('..');

const cref = require('../build/Release/ratchetbox_bench.node');
const quick = process.argv.includes('--quick');
const outIdx = process.argv.indexOf('--out');
const outFile = outIdx > 0 ? process.argv[outIdx + 1] : null;
const REPS = quick ? 3 : 12;
const SYM_N = quick ? 2000 : 40000;
const DUR_N = quick ? 50 : 400;
const WINDOW = 32;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const nowNs = () => Number(process.hrtime.bigint());

// into: encryptInto/decryptInto with one buffer each, reused (what a stream
// does; no allocation per message); else encrypt/decrypt, which allocate
// the ciphertext and the plaintext (wiped when collected) per message.
function jsSymmetric(n, size, into) {
  const pt = new Uint8Array(size).fill(0x61);
  const alice = rb.Identity.generate();
  const bob = rb.Identity.generate();
  const pre = new rb.Prekeys(bob);
  pre.addSigned(1);
  const a = rb.Session.initiate(alice, pre.bundle(1));
  const b = rb.Session.accept(pre, a.encrypt(pt)).session;
  a.decrypt(b.encrypt(pt));
  const wire = new Uint8Array(a.wireSize(size));
  const out = new Uint8Array(wire.length);
  const t0 = nowNs();
  if (into) {
    for (let i = 0; i < n; i++) {
      const wn = a.encryptInto(pt, wire);
      if (b.decryptInto(wire.subarray(0, wn), out) !== size) throw new Error('round trip');
    }
  } else {
    for (let i = 0; i < n; i++) {
      if (b.decrypt(a.encrypt(pt)).length !== size) throw new Error('round trip');
    }
  }
  const t = nowNs() - t0;
  for (const o of [a, b, pre, alice, bob]) o.destroy();
  return t;
}

async function stores(dir, tag) {
  const a = await rb.Store.open(path.join(dir, `${tag}-alice.db`), { create: true });
  const b = await rb.Store.open(path.join(dir, `${tag}-bob.db`), { create: true });
  await a.createIdentity();
  await b.createIdentity();
  await a.addContact('bob', 1, await b.bundle());
  await b.addContact('alice', 1, await a.bundle());
  const pt = new Uint8Array(64).fill(0x61);
  await b.decrypt((await a.encrypt('bob', 1, pt)).wire, { name: 'alice', device: 1 });
  await a.decrypt((await b.encrypt('alice', 1, pt)).wire, { name: 'bob', device: 1 });
  return { a, b, pt };
}

async function jsDurableSequential(dir, n) {
  const { a, b, pt } = await stores(dir, 'seq');
  const t0 = nowNs();
  for (let i = 0; i < n; i++) {
    const m = await a.encrypt('bob', 1, pt);
    await b.decrypt(m.wire, { name: 'alice', device: 1 });
  }
  const t = nowNs() - t0;
  await a.close();
  await b.close();
  return t;
}

// The same work with up to WINDOW calls in flight on one Store at a time:
// alice encrypts all n (each call still its own committed transaction),
// then bob decrypts all n, so that, as in the C loop, one store works at a
// time; what changes is that the next call is queued while the previous one
// runs (a stream of agent deltas), so the event loop's work overlaps the
// pool thread's instead of adding to it.
async function windowed(n, start) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await start(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, worker));
  return out;
}

async function jsDurablePipelined(dir, n) {
  const { a, b, pt } = await stores(dir, 'pipe');
  const t0 = nowNs();
  const sent = await windowed(n, () => a.encrypt('bob', 1, pt));
  await windowed(n, (i) => b.decrypt(sent[i].wire, { name: 'alice', device: 1 }));
  const t = nowNs() - t0;
  await a.close();
  await b.close();
  return t;
}

function benchDir() {
  // Like bench.c: on the repository's file system (real fsync), not tmpfs.
  const build = path.resolve(__dirname, '..', 'build');
  return fs.mkdtempSync(path.join(fs.existsSync(build) ? build : os.tmpdir(), 'bench-'));
}

async function main() {
  const rows = { symC: [], symJs: [], symAlloc: [], durC: [], durSeq: [], durPipe: [] };
  const t0 = Date.now();
  const load0 = os.loadavg();
  // Warm-up (JIT, page cache) outside the measurements.
  jsSymmetric(2000, 64, true);
  jsSymmetric(2000, 64, false);
  cref.symmetric(2000, 64);
  for (let r = 0; r < REPS; r++) {
    // Each variant takes each place in the order equally often.
    const srot = ['c', 'js', 'alloc'];
    const order = [...srot.slice(r % 3), ...srot.slice(0, r % 3)];
    for (const who of order) {
      if (who === 'c') rows.symC.push(cref.symmetric(SYM_N, 64) / SYM_N);
      else if (who === 'js') rows.symJs.push(jsSymmetric(SYM_N, 64, true) / SYM_N);
      else rows.symAlloc.push(jsSymmetric(SYM_N, 64, false) / SYM_N);
      // Let the finalizers of the plaintexts handed out run between runs.
      await new Promise(setImmediate);
    }
    const dir = benchDir();
    try {
      // Each variant takes each place in the order equally often, and every
      // run starts with nothing dirty in the page cache (sync(1)): the store
      // closed just before (its final checkpoint) or the directory removed
      // before would otherwise be flushed inside the next run's fsyncs.
      const rot = ['c', 'seq', 'pipe'];
      for (const who of [...rot.slice(r % 3), ...rot.slice(0, r % 3)]) {
        execFileSync('sync');
        if (who === 'c') rows.durC.push(await cref.durable(dir, DUR_N, 64) / DUR_N);
        else if (who === 'seq') rows.durSeq.push(await jsDurableSequential(dir, DUR_N) / DUR_N);
        else rows.durPipe.push(await jsDurablePipelined(dir, DUR_N) / DUR_N);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const us = (ns) => (ns / 1000).toFixed(2);
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
  const lines = [];
  lines.push(`ratchetbox ${rb.version()} Node ${process.version} bench-node  ${new Date().toISOString().slice(0, 16)} UTC  ` +
    `cpu: ${os.cpus()[0].model}  reps: ${REPS} (interleaved)${quick ? '  QUICK' : ''}`);
  lines.push(`load average at the start and the end: ${load0.map((x) => x.toFixed(1)).join(' ')} / ` +
    `${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (${os.cpus().length} CPUs): above the CPU count, wake-ups ` +
    'after fsync wait for a CPU and the durable rows measure that more than the binding');
  lines.push('per message, microseconds (median over the repetitions; min..max in brackets)');
  lines.push('');
  lines.push('case                              C (direct)          Node (binding)         ratio   target');
  const row = (name, c, js, target, limit) => {
    const ratio = median(js) / median(c);
    const met = limit === Infinity ? '-' : ratio <= limit ? `<=${limit} met` : `<=${limit} MISSED`;
    lines.push(`${name.padEnd(32)}  ${us(median(c)).padStart(8)} [${us(Math.min(...c))}..${us(Math.max(...c))}]`.padEnd(54) +
      `${us(median(js)).padStart(8)} [${us(Math.min(...js))}..${us(Math.max(...js))}]`.padEnd(24) +
      `${ratio.toFixed(3).padStart(6)}   ${met}`);
    return { name, c: median(c), js: median(js), ratio, target, met: ratio <= limit };
  };
  const results = [
    row('symmetric 64 B, Session *Into', rows.symC, rows.symJs, '1.5x', 1.5),
    row('symmetric 64 B, Session alloc', rows.symC, rows.symAlloc, '(none)', Infinity),
    row('durable 64 B, pipelined (Store)', rows.durC, rows.durPipe, '5 %', 1.05),
    row('durable 64 B, sequential (Store)', rows.durC, rows.durSeq, '(none)', Infinity),
  ];
  lines.push('');
  lines.push(`symmetric: ${SYM_N} messages per repetition, one direction (alice encrypts, bob decrypts), after the handshake;`);
  lines.push('*Into: encryptInto/decryptInto into two reused buffers; alloc: encrypt/decrypt, a new ciphertext and a new');
  lines.push('plaintext (external memory, wiped when collected) per message.');
  lines.push(`durable: ${DUR_N} messages per repetition, bounded mode, fresh stores on the repository's file system;`);
  lines.push(`each message is one committed, fdatasync'ed transaction at each side. Pipelined: up to ${WINDOW} in flight`);
  lines.push('on the store at work (alice encrypts all, then bob decrypts all: one store at a time, as in the C loop);');
  lines.push('sequential: every call awaited before the next (adds a thread-pool round trip per call).');
  lines.push(`run time: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const text = lines.join('\n') + '\n';
  process.stdout.write(text);
  if (outFile) fs.writeFileSync(outFile, text);
  void results;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
