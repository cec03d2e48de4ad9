/** facesjs draws from Math.random, so determinism needs a seeded stand-in. */

/** Runs `fn` with Math.random replaced by `random`; the original is restored even when `fn` throws. */
export function withMathRandom<T>(random: () => number, fn: () => T): T {
  const original = Math.random;
  Math.random = random;
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

export function pick<T>(random: () => number, choices: readonly T[]): T {
  return choices[Math.floor(random() * choices.length)];
}
