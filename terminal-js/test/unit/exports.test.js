// index.d.ts is hand-written: keep it in step with what the modules really export.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as root from '../../src/index.js';
import * as simulated from '../../src/simulated.js';

const declared = (text) => new Set([...text.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]));

test('index.d.ts declares exactly the runtime exports of src/index.js', async () => {
  const dts = declared(await readFile(new URL('../../index.d.ts', import.meta.url), 'utf8'));
  assert.deepEqual([...dts].sort(), Object.keys(root).sort());
});

test('simulated.d.ts re-exports exactly the runtime exports of src/simulated.js', async () => {
  const text = await readFile(new URL('../../simulated.d.ts', import.meta.url), 'utf8');
  const names = text.match(/export \{([^}]*)\}/)[1].split(',').map((s) => s.trim()).filter(Boolean);
  const values = names.filter((n) => /^[a-z]|^TEST_CARDS$/.test(n));
  assert.deepEqual(values.sort(), Object.keys(simulated).sort());
});
