// Rehearsal only: runs the real-backend test files (integration + browser) against the FAKE
// backend in test/support/fake-backend.js, to check the tests and the demo page themselves before
// the Rust backend serves /pos and /v1. Passing here proves nothing about pos-backend.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFakeBackend } from './fake-backend.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fake = await startFakeBackend();
console.log(`# rehearsal against the FAKE backend at ${fake.url} (not pos-backend)`);
const child = spawn(process.execPath,
  ['--test', '--test-concurrency=1', 'test/integration.test.js', 'test/browser.test.js'],
  { cwd: root, stdio: 'inherit', env: { ...process.env, POS_BACKEND_URL: fake.url } });
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await fake.close();
process.exit(code);
