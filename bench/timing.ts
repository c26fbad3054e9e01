// Timing helpers shared by the benchmarks.

/** The median wall time of `iters` runs of `run`, in ms, after one untimed run. */
export async function medianMs(run: () => Promise<unknown>, iters: number): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(iters / 2)]!;
}
