// SPDX-License-Identifier: MIT
// The package's install step (npm install, npm ci) and `npm run build`:
// refresh or check deps/ratchetbox (scripts/vendor.js), then node-gyp
// configure + build against the Node headers already on the machine
// (--nodedir; node-gyp downloads nothing then). --bench also builds the C
// reference addon of bench/bench.js.
//
// Environment: RBX_NODEDIR overrides the headers' prefix (default: the
// prefix of the running node, /usr on Debian, whose nodejs package ships
// /usr/include/node); npm_config_node_gyp (set by npm) names node-gyp.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const vendor = require('./vendor.js');

const pkg = path.resolve(__dirname, '..');

function nodeDir() {
  const candidates = [process.env.RBX_NODEDIR, process.env.npm_config_nodedir,
    path.dirname(path.dirname(process.execPath)), '/usr'].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) &&
        fs.existsSync(path.join(dir, 'include', 'node', 'common.gypi'))) return dir;
  }
  throw new Error('ratchetbox: no Node headers found (looked for include/node/node_api.h under ' +
    candidates.join(', ') + '); install them (Debian: the nodejs package) or set RBX_NODEDIR');
}

function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp,
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules',
      'node-gyp', 'bin', 'node-gyp.js')].filter(Boolean);
  for (const f of candidates) if (fs.existsSync(f)) return f;
  throw new Error('ratchetbox: node-gyp not found (npm ships one; looked at ' + candidates.join(', ') + ')');
}

function run(args) {
  const r = spawnSync(process.execPath, [nodeGyp(), ...args], { cwd: pkg, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}

function main() {
  vendor.main();
  const dir = nodeDir();
  const bench = process.argv.includes('--bench');
  const common = [`--nodedir=${dir}`, `--rbx_bench=${bench ? 1 : 0}`];
  run(['configure', ...common]);
  run(['build', '--jobs=max', ...common]);
}

main();
