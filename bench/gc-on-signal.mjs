// Preloaded into the stack the memory benchmark starts (node --expose-gc --import): a full
// garbage collection on SIGUSR2, so the benchmark reads live memory, not garbage V8 has not
// collected yet. Benchmark-only; nothing in the service loads it.
process.on('SIGUSR2', () => globalThis.gc?.());
