// Waits for a condition instead of sleeping: polls `condition` (sync or async) on every turn of
// the event loop until it holds, and fails with `what` after `timeoutMs`.
export async function until(condition, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
