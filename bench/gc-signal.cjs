// Preloaded into the app by the memory benchmark only (`node --expose-gc --require bench/gc-signal.cjs …`):
// SIGUSR2 runs a full garbage collection, so the benchmark can read RSS with nothing but live objects on
// the heap. CommonJS so that --require loads it before the app's ES modules.
'use strict';
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') globalThis.gc();
});
