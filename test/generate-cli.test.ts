/** `studio generate`: KV-cached and uncached runs print the same text; sampling options are checked. */
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli';

describe('studio generate', () => {
  it('gives the same greedy and sampled ids with and without the KV cache', async () => {
    for (const extra of [[], ['--temperature', '0.9', '--top-k', '30', '--top-p', '0.9', '--seed', '4']]) {
      const args = ['generate', '--model', 'stories260K', '--prompt', 'The cat', '--max-new-tokens', '40', '--json', ...extra];
      const cached = await runCli(args);
      const plain = await runCli([...args, '--no-cache']);
      expect(cached.code).toBe(0);
      expect(plain.code).toBe(0);
      const a = JSON.parse(cached.out) as { ids: number[]; text: string; tokensPerSecond: number };
      const b = JSON.parse(plain.out) as { ids: number[]; text: string };
      expect(a.ids.length).toBeGreaterThan(0);
      expect(a.ids).toEqual(b.ids);
      expect(a.text).toBe(b.text);
      expect(a.text.startsWith('The cat')).toBe(true);
      expect(a.tokensPerSecond).toBeGreaterThan(0);
    }
  });

  it('refuses a bad top-p with a usage error', async () => {
    const r = await runCli(['generate', '--model', 'stories260K', '--top-p', '1.5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--top-p must be a number in \(0, 1\]/);
  });
});
