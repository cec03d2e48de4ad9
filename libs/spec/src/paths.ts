/** One step into a parsed document: a map key or a list index. */
export type Segment = string | number;

/** `['sweep', 'model.resolution', 1]` → `sweep["model.resolution"][1]`. */
export function formatPath(path: readonly Segment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** Splits an ajv instance path (JSON pointer) into segments; indices into lists become numbers. */
export function pointerToPath(pointer: string, data: unknown): Segment[] {
  if (!pointer) return [];
  const path: Segment[] = [];
  let node = data;
  for (const escaped of pointer.slice(1).split('/')) {
    const key = escaped.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}
