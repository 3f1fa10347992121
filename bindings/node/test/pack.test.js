// SPDX-License-Identifier: MIT
// The package as a user gets it: `npm pack`, then `npm install` of the
// tarball in an empty project, offline (node-addon-api is bundled in the
// tarball; any download attempt goes to a dead proxy and fails). The install
// compiles the library from the sources in the tarball against the
// machine's Node headers. Then the README's TypeScript example is compiled
// with tsc --strict against the installed package's index.d.ts and run.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { pkg, root, scratch } = require('./helpers.js');

function readmeExample() {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- ts-example-begin -->\n```ts\n([\s\S]*?)```\n<!-- ts-example-end -->/.exec(text);
  assert.ok(m, 'README.md has a ts-example block');
  return m[1];
}

test('npm pack; npm install of the tarball in an empty project, offline; the README example compiles and runs', () => {
  const work = scratch();
  const npm = process.env.npm_execpath || '/usr/lib/node_modules/npm/bin/npm-cli.js';
  const run = (args, cwd, env = {}) => execFileSync(process.execPath, [npm, ...args],
    { cwd, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const packed = JSON.parse(run(['pack', '--json', '--pack-destination', work], pkg));
  const tgz = path.join(work, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const f of ['index.js', 'index.d.ts', 'lib/rbxd-client.js', 'lib/rbxd-client.d.ts', 'binding.gyp',
    'deps/ratchetbox/include/ratchetbox.h', 'deps/ratchetbox/gen/ratchetbox.pb-c.c', 'scripts/build.js',
    'node_modules/node-addon-api/napi.h', 'README.md']) {
    assert.ok(files.includes(f), `the tarball holds ${f}`);
  }
  assert.ok(!files.some((f) => f.startsWith('build/') || f.startsWith('test/')), 'no build output or tests');
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const dead = 'http://127.0.0.1:9';
  run(['install', tgz, '--offline', '--no-audit', '--no-fund'], app, {
    HTTP_PROXY: dead, HTTPS_PROXY: dead, http_proxy: dead, https_proxy: dead,
    npm_config_cache: path.join(work, 'empty-cache'), HOME: work,
  });
  const installed = path.join(app, 'node_modules', 'ratchetbox');
  assert.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'ratchetbox.node')));
  // node-gyp found the machine's headers: it downloaded nothing into HOME.
  assert.equal(fs.existsSync(path.join(work, '.cache', 'node-gyp')), false);
  // The README's example, as a TypeScript project would build it.
  fs.writeFileSync(path.join(app, 'main.ts'), readmeExample());
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, lib: ['ES2022'],
      typeRoots: [path.join(pkg, 'node_modules', '@types')], types: ['node'], outDir: 'out' },
    files: ['main.ts'],
  }));
  execFileSync(process.execPath, [path.join(pkg, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app],
    { stdio: 'pipe' });
  const out = execFileSync(process.execPath, [path.join(app, 'out', 'main.js')], { cwd: app, encoding: 'utf8' });
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^[0-9a-f]{16}: agent delta$/);
  assert.equal(lines[1], 'RBX_E_REPLAY');
});
