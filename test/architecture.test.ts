/**
 * The process boundary DESIGN.md draws: the bot process (src/main.ts and everything it imports) never loads
 * onnxruntime-node; only the worker child does, through src/inference/session.ts. Checked on the static import
 * graph, so a stray import fails here rather than as 300 MB of native code in the bot.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

/** Files reachable from `entry` through static imports (type-only imports are erased, so they are skipped). */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = readFileSync(file, 'utf8');
    const specifiers: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
      specifiers.push(m[1]);
    }
    seen.set(file, specifiers);
    for (const s of specifiers) {
      if (!s.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts'));
      if (existsSync(target)) visit(target);
    }
  };
  visit(path.resolve(entry));
  return seen;
}

describe('process boundaries', () => {
  it('the bot process never imports onnxruntime-node or the inference session', () => {
    const graph = reachable('src/main.ts');
    expect(graph.size).toBeGreaterThan(10);
    const offenders = [...graph.entries()]
      .filter(([file, specs]) => specs.includes('onnxruntime-node') || file.endsWith(path.join('inference', 'session.ts')))
      .map(([file]) => path.relative(process.cwd(), file));
    expect(offenders).toEqual([]);
  });

  it('the worker entry reaches the engine only through a runtime import', () => {
    const graph = reachable('src/worker/main.ts');
    expect([...graph.keys()].some((f) => f.endsWith(path.join('inference', 'engine.ts')))).toBe(false);
    expect(readFileSync('src/worker/main.ts', 'utf8')).toMatch(/inference\/engine\.js/);
  });

  it('the inference engine never imports discord.js', () => {
    const graph = reachable('src/inference/engine.ts');
    expect([...graph.values()].flat().filter((s) => s.startsWith('discord.js') || s.startsWith('@discordjs'))).toEqual([]);
    expect([...graph.keys()].some((f) => f.endsWith(path.join('inference', 'session.ts')))).toBe(true);
  });
});
