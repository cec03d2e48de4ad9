import { type Document, isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { Segment } from './paths';

export interface Position {
  line: number;
  column: number;
}

/** Finds where a value (or key) of a parsed YAML document was written. */
export class YamlLocator {
  constructor(
    private readonly document: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  position(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }

  /** Whether the document spells out the value at `path`. */
  has(path: readonly Segment[]): boolean {
    return this.walk(path).depth === path.length;
  }

  /** The value at `path`, or the nearest ancestor the document has. */
  valueAt(path: readonly Segment[]): Position {
    const { node, key } = this.walk(path);
    return this.position(node?.range?.[0] ?? key?.range?.[0] ?? 0);
  }

  /** The key of the last segment of `path` (e.g. an unknown key), or else `valueAt(path)`. */
  keyAt(path: readonly Segment[]): Position {
    const { key, depth } = this.walk(path);
    if (depth === path.length && key?.range) return this.position(key.range[0]);
    return this.valueAt(path);
  }

  private walk(path: readonly Segment[]): { node: Node | null; key: Node | null; depth: number } {
    let node = this.document.contents as Node | null;
    let key: Node | null = null;
    let depth = 0;
    for (const segment of path) {
      let next: { node: Node | null; key: Node | null } | undefined;
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
        if (pair) next = { node: pair.value as Node | null, key: pair.key as Node };
      } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
        next = { node: node.items[segment] as Node | null, key: null };
      }
      if (!next) break;
      // `key:` with no value has no node of its own: the key stands in for it.
      if (!next.node?.range) return { node: next.key, key: next.key, depth: depth + 1 };
      ({ node, key } = next);
      depth += 1;
    }
    return { node, key, depth };
  }
}
