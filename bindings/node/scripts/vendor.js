// SPDX-License-Identifier: MIT
// Copy the library's sources from the repository into deps/ratchetbox/, so
// that the package builds libratchetbox from source on the installing machine
// (node-gyp compiles them into the addon: the library is linked statically).
// protoc-c's output is generated here, once, so that an installing machine
// needs no protobuf-c-compiler, only libprotobuf-c-dev.
//
// Inside the repository (bindings/node of a ratchetbox checkout) every build
// refreshes the copy; files whose bytes did not change keep their mtime, so
// node-gyp rebuilds only what changed. From a packed tarball deps/ is already
// there and this script only checks it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const pkg = path.resolve(__dirname, '..');
const root = path.resolve(pkg, '..', '..');
const out = path.join(pkg, 'deps', 'ratchetbox');

function inRepository() {
  return fs.existsSync(path.join(root, 'include', 'ratchetbox.h')) &&
    fs.existsSync(path.join(root, 'src', 'store', 'open.c')) &&
    path.resolve(root, 'bindings', 'node') === pkg;
}

function copyIfChanged(from, to) {
  const data = fs.readFileSync(from);
  if (fs.existsSync(to) && fs.readFileSync(to).equals(data)) return false;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.writeFileSync(to, data);
  return true;
}

function listDir(dir, exts) {
  return fs.readdirSync(dir).filter((f) => exts.some((e) => f.endsWith(e))).sort();
}

function vendor() {
  const want = new Set();
  const take = (rel) => {
    want.add(rel);
    copyIfChanged(path.join(root, rel), path.join(out, rel));
  };
  take('include/ratchetbox.h');
  take('proto/ratchetbox.proto');
  for (const dir of ['src', 'src/store', 'src/compat']) {
    for (const f of listDir(path.join(root, dir), ['.c', '.h'])) take(`${dir}/${f}`);
  }
  // protoc-c into a scratch directory, then copied like the rest.
  const tmp = fs.mkdtempSync(path.join(pkg, '.protoc-'));
  try {
    execFileSync('protoc-c', ['--proto_path=' + path.join(root, 'proto'), '--c_out=' + tmp,
      path.join(root, 'proto', 'ratchetbox.proto')], { stdio: 'inherit' });
    for (const f of ['ratchetbox.pb-c.c', 'ratchetbox.pb-c.h']) {
      want.add(`gen/${f}`);
      copyIfChanged(path.join(tmp, f), path.join(out, 'gen', f));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // Files the repository no longer has leave the copy too.
  const walk = (dir) => fs.readdirSync(path.join(out, dir), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]);
  for (const rel of walk('')) if (!want.has(rel)) fs.rmSync(path.join(out, rel));
  fs.writeFileSync(path.join(out, 'SOURCES'), 'Copied from the ratchetbox repository by scripts/vendor.js.\n' +
    [...want].sort().join('\n') + '\n');
}

function check() {
  for (const rel of ['include/ratchetbox.h', 'gen/ratchetbox.pb-c.c', 'src/store/open.c']) {
    if (!fs.existsSync(path.join(out, rel))) {
      throw new Error(`ratchetbox: ${path.join(out, rel)} is missing and this is not a ratchetbox ` +
        'checkout: the package tarball should contain deps/ratchetbox (npm pack runs scripts/vendor.js)');
    }
  }
}

// The C files of the copy, for binding.gyp's rbx_static target.
function list() {
  const files = [];
  for (const dir of ['src', 'src/store', 'gen']) {
    for (const f of listDir(path.join(out, dir), ['.c'])) files.push(`deps/ratchetbox/${dir}/${f}`);
  }
  process.stdout.write(files.join('\n') + '\n');
}

function main() {
  if (process.argv.includes('--list')) {
    list();
    return;
  }
  if (inRepository()) vendor();
  else if (process.argv.includes('--force')) throw new Error('vendor.js --force: run it inside a ratchetbox checkout');
  check();
}

module.exports = { main, inRepository };
if (require.main === module) main();
