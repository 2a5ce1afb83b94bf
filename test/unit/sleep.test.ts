import { describe, expect, it } from 'vitest';
import { sleep } from '../../shared/sleep';

describe('sleep (the one helper)', () => {
  it('resolves after the time', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });

  it.each([
    ['aborted before', true],
    ['aborted while waiting', false],
  ])('an hour-long sleep %s resolves at once, without rejecting', async (_name, before) => {
    const ac = new AbortController();
    if (before) ac.abort();
    const p = sleep(3_600_000, ac.signal);
    if (!before) ac.abort();
    // Would hang (and the test time out) if abort did not end the wait.
    await expect(p).resolves.toBeUndefined();
  });
});
