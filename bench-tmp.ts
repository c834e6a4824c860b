(globalThis as any).__m = [];
process.env.BENCH_PARTS = '3';
await import('./bench/scale.ts');
const m = (globalThis as any).__m as [string, number][];
// last 100 jobs: compute mean deltas between consecutive marks within each 'add' group
const groups: [string, number][][] = []; let cur: [string, number][] = [];
for (const e of m) { if (e[0] === 'add') { if (cur.length) groups.push(cur); cur = []; } cur.push(e); }
groups.push(cur);
const sums = new Map<string, number[]>();
for (const g of groups.slice(-90)) for (let i = 1; i < g.length; i++) { const k = `${g[i-1][0]}→${g[i][0]}`; (sums.get(k) ?? sums.set(k, []).get(k)!).push(g[i][1] - g[i-1][1]); }
for (const [k, v] of sums) console.log(k, (v.reduce((a, b) => a + b, 0) / v.length).toFixed(2), v.length);
