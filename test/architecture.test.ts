/**
 * The boundaries DESIGN.md and STYLE.md draw, checked on the static import graph so a stray import fails here:
 * - the bot process (src/main.ts and everything it imports) never loads onnxruntime-node; only the worker child
 *   does, through src/inference/model/session.ts;
 * - the engine never reaches discord.js;
 * - the neutral layers (discord/, commands/, config/, queue/, protocol/, store/, model-folder/) never import
 *   inference/, not even its types: what they share with it lives in protocol/;
 * - protocol/ imports only zod, node built-ins and src/errors.ts;
 * - imports run one way: no cycles between folders (queue ↔ worker, queue ↔ store).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
const ROOT = process.cwd();

function specifiers(file: string, includeTypes: boolean): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    if (!includeTypes && /^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    out.push(m[1]);
  }
  return out;
}

function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(from), spec.replace(/\.js$/, '.ts'));
  return existsSync(target) ? target : undefined;
}

/** Files reachable from `entry` through static runtime imports (type-only imports are erased). */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const specs = specifiers(file, false);
    seen.set(file, specs);
    for (const s of specs) {
      const target = resolveLocal(file, s);
      if (target) visit(target);
    }
  };
  visit(path.resolve(entry));
  return seen;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? tsFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

/** The top-level room of a file: `src/queue/x.ts` → `queue`, `commands/x.ts` → `commands`. */
function room(file: string): string {
  const rel = path.relative(ROOT, file).split(path.sep);
  return rel[0] === 'src' ? (rel.length > 2 ? rel[1] : rel[1].replace(/\.ts$/, '')) : rel[0];
}

/** Every local import edge (types included) as [from file, to file]. */
function edges(): [string, string][] {
  const files = [...tsFiles(path.join(ROOT, 'src')), ...tsFiles(path.join(ROOT, 'commands'))];
  return files.flatMap((file) =>
    specifiers(file, true).flatMap((s) => {
      const target = resolveLocal(file, s);
      return target ? [[file, target] as [string, string]] : [];
    }),
  );
}

const rel = (file: string) => path.relative(ROOT, file);

describe('process boundaries', () => {
  it('the bot process never imports onnxruntime-node or the inference session', () => {
    const graph = reachable('src/main.ts');
    expect(graph.size).toBeGreaterThan(10);
    const offenders = [...graph.entries()]
      .filter(([file, specs]) => specs.includes('onnxruntime-node') || file.includes(`${path.sep}inference${path.sep}`))
      .map(([file]) => rel(file));
    expect(offenders).toEqual([]);
  });

  it('the worker entry reaches the engine only through a runtime import', () => {
    const graph = reachable('src/worker/main.ts');
    expect([...graph.keys()].some((f) => f.endsWith(path.join('inference', 'engine.ts')))).toBe(false);
    expect(readFileSync('src/worker/main.ts', 'utf8')).toMatch(/inference\/engine\.js/);
  });

  it('the inference engine never imports discord.js, and only model/session.ts imports onnxruntime-node', () => {
    const graph = reachable('src/inference/engine.ts');
    expect([...graph.values()].flat().filter((s) => s.startsWith('discord.js') || s.startsWith('@discordjs'))).toEqual([]);
    expect([...graph.keys()].some((f) => f.endsWith(path.join('inference', 'model', 'session.ts')))).toBe(true);
    const ortImporters = tsFiles(path.join(ROOT, 'src')).filter((f) => specifiers(f, true).includes('onnxruntime-node'));
    expect(ortImporters.map(rel)).toEqual([path.join('src', 'inference', 'model', 'session.ts')]);
  });
});

describe('import direction', () => {
  const NEUTRAL = ['discord', 'commands', 'config', 'queue', 'protocol', 'store', 'model-folder'];

  it('the neutral layers never import inference/, not even for types', () => {
    const offenders = edges()
      .filter(([from, to]) => NEUTRAL.includes(room(from)) && room(to) === 'inference')
      .map(([from, to]) => `${rel(from)} → ${rel(to)}`);
    expect(offenders).toEqual([]);
  });

  it('protocol/ imports only zod, node built-ins, itself and src/errors.ts', () => {
    const offenders = tsFiles(path.join(ROOT, 'src', 'protocol')).flatMap((file) =>
      specifiers(file, true)
        .filter((s) => {
          if (s === 'zod' || s.startsWith('node:')) return false;
          const target = resolveLocal(file, s);
          return !(target && (room(target) === 'protocol' || room(target) === 'errors'));
        })
        .map((s) => `${rel(file)} → ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('has no import cycles between folders', () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, to] of edges()) {
      const a = room(from);
      const b = room(to);
      if (a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
    }
    const cycles: string[] = [];
    const reaches = (from: string, target: string, seen = new Set<string>()): boolean => {
      for (const next of graph.get(from) ?? []) {
        if (next === target) return true;
        if (!seen.has(next)) {
          seen.add(next);
          if (reaches(next, target, seen)) return true;
        }
      }
      return false;
    };
    for (const [a, targets] of graph) for (const b of targets) if (reaches(b, a)) cycles.push(`${a} ↔ ${b}`);
    expect(cycles).toEqual([]);
  });
});
