/** A share with its confidence interval. */
export interface Share {
  /** successes / n; NaN when n is 0. */
  share: number;
  low: number;
  high: number;
}

/**
 * The Wilson score interval of a binomial share (z = 1.96: 95%). Unlike the normal approximation it stays inside
 * [0, 1] and is still informative at 0 or n successes, which is where a men-only generator's share will sit.
 * With n = 0 nothing is known: share NaN, interval [0, 1].
 */
export function wilson(successes: number, n: number, z = 1.96): Share {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!(successes >= 0 && successes <= n)) throw new RangeError(`successes must be in [0, ${n}], got ${successes}`);
  if (n === 0) return { share: Number.NaN, low: 0, high: 1 };
  const share = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (share + z2 / (2 * n)) / denominator;
  const halfWidth = (z * Math.sqrt((share * (1 - share)) / n + z2 / (4 * n * n))) / denominator;
  // at 0 (n) successes the low (high) bound is exactly 0 (1); rounding would put it a hair off
  return {
    share,
    low: successes === 0 ? 0 : Math.max(0, center - halfWidth),
    high: successes === n ? 1 : Math.min(1, center + halfWidth),
  };
}
