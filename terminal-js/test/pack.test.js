// npm run test:pack: the package as a user installs it. Packs the tarball (npm pack), checks what is
// in it, installs it into a scratch project in a temporary directory (npm brings the peer
// dependency @stripe/terminal-js from the registry), then there imports both entry points with Node
// and type-checks a TypeScript consumer against the installed copy. Needs the npm registry.
// KEEP_PACK_DIR=1 keeps the scratch directory for a look after a failure.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('./pack/', import.meta.url));
const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
const tsc = join(pkgDir, 'node_modules', '.bin', 'tsc');

let dir; // temp dir: the tarball and scratch/
let scratch;
let packed; // npm pack --json's entry for our tarball

/** Runs a command; on failure the error says what it printed. */
async function sh(cmd, args, cwd) {
  try {
    return await run(cmd, args, { cwd, maxBuffer: 16 << 20 });
  } catch (e) {
    e.message = `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`;
    throw e;
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'terminal-js-pack-'));
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', dir], pkgDir);
  [packed] = JSON.parse(stdout);
  scratch = join(dir, 'scratch');
  await mkdir(scratch);
  await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  for (const f of await readdir(fixtures)) await copyFile(join(fixtures, f), join(scratch, f));
  // The tarball alone: npm must install the peer dependency by itself (npm >= 7).
  await sh('npm', ['install', '--no-audit', '--no-fund', join(dir, packed.filename)], scratch);
});

after(async () => {
  if (!dir) return;
  if (process.env.KEEP_PACK_DIR) console.log(`# scratch project kept in ${scratch}`);
  else await rm(dir, { recursive: true, force: true });
});

test('the tarball holds the modules, their types, README, LICENSE and package.json, nothing else', async () => {
  const files = packed.files.map((f) => f.path).sort();
  const sources = (await readdir(join(pkgDir, 'src'))).filter((f) => f.endsWith('.js')).map((f) => `src/${f}`);
  const types = (await readdir(pkgDir)).filter((f) => f.endsWith('.d.ts'));
  assert.deepEqual(files, ['LICENSE', 'README.md', 'package.json', ...sources, ...types].sort());
  assert.ok(types.includes('index.d.ts') && types.includes('simulated.d.ts'), 'both entry points\' .d.ts');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.includes('node_modules/') || f === 'types-test.ts'));
  assert.equal(packed.name, pkg.name);
  assert.equal(packed.version, pkg.version);
});

test('every exports target and every relative import of the modules is in the tarball', async () => {
  const files = new Set(packed.files.map((f) => f.path));
  const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  for (const t of [...targets, pkg.main, pkg.types]) assert.ok(files.has(t.replace(/^\.\//, '')), `${t} packed`);
  for (const f of files) {
    if (!/\.(js|d\.ts)$/.test(f)) continue;
    const text = await readFile(join(pkgDir, f), 'utf8');
    for (const [, spec] of text.matchAll(/\bfrom '(\.[^']+)'/g)) {
      const target = join(f, '..', spec).replace(/\.js$/, f.endsWith('.d.ts') ? '.d.ts' : '.js');
      assert.ok(files.has(target), `${f} imports ${spec}: ${target} packed`);
    }
  }
});

test('the installed package.json is publishable: not private, MIT, peer dependency on @stripe/terminal-js', async () => {
  const installed = JSON.parse(await readFile(join(scratch, 'node_modules', pkg.name, 'package.json'), 'utf8'));
  assert.equal(installed.private, undefined);
  assert.equal(installed.license, 'MIT');
  assert.equal(installed.repository?.directory, 'terminal-js');
  assert.equal(installed.peerDependencies?.['@stripe/terminal-js'], pkg.devDependencies['@stripe/terminal-js'],
    'the peer range is the version our own typecheck runs against');
  assert.equal(installed.dependencies, undefined, 'no runtime dependencies');
  for (const [entry, target] of Object.entries(installed.exports)) {
    if (entry !== './package.json') assert.ok(target.types, `exports["${entry}"] has types`);
  }
});

test('npm installed the peer dependency @stripe/terminal-js next to the package', async () => {
  const { stdout } = await sh('npm', ['ls', '--json', '@stripe/terminal-js'], scratch);
  const tree = JSON.parse(stdout);
  const peer = tree.dependencies?.[pkg.name]?.dependencies?.['@stripe/terminal-js'];
  assert.ok(peer, `npm ls shows @stripe/terminal-js under ${pkg.name}: ${stdout}`);
  const installed = JSON.parse(await readFile(join(scratch, 'node_modules/@stripe/terminal-js/package.json'), 'utf8'));
  assert.equal(installed.version, peer.version);
});

test('Node imports both entry points from the installed package and uses them (consumer.mjs)', async () => {
  const { stdout } = await sh(process.execPath, ['consumer.mjs'], scratch);
  assert.match(stdout, /consumer\.mjs: @pos-backend\/terminal-js@\d+\.\d+\.\d+ imported and used/);
});

for (const resolution of ['nodenext', 'bundler']) {
  test(`a TypeScript consumer type-checks against the installed package (moduleResolution ${resolution})`, async () => {
    await sh(tsc, ['--noEmit', '-p', `tsconfig.${resolution}.json`], scratch);
  });
}
