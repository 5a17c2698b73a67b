// A tiny benchmark harness: runs fn for a time budget after warm-up and reports ns/op, so suites
// can print each figure as a ratio to a baseline measured in the same process.
export interface Result {
  readonly name: string;
  readonly nsPerOp: number;
  readonly ops: number;
}

export async function measure(name: string, fn: () => unknown, budgetMs = 400): Promise<Result> {
  for (let i = 0; i < 50; i++) await fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < 20; i++) await fn();
    ops += 20;
    now = performance.now();
  }
  return { name, nsPerOp: ((now - start) * 1e6) / ops, ops };
}

export function report(title: string, rows: ReadonlyArray<readonly [Result, Result]>): void {
  console.log(`\n# ${title}`);
  console.log(`${'operation'.padEnd(44)} ${'ns/op'.padStart(10)}   ${'baseline'.padEnd(34)} ${'ns/op'.padStart(10)}   ratio`);
  for (const [r, b] of rows) {
    console.log(`${r.name.padEnd(44)} ${r.nsPerOp.toFixed(0).padStart(10)}   ${b.name.padEnd(34)} ${b.nsPerOp.toFixed(0).padStart(10)}   ${(r.nsPerOp / b.nsPerOp).toFixed(2)}x`);
  }
}
