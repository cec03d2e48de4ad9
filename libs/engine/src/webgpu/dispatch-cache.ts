import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * The CPU cost of a dispatch in tfjs-backend-webgpu 4.22, cut where the work repeats from step to step.
 *
 * Every dispatch, tfjs takes a uniform buffer from its pool and writes the program's uniforms into it (shapes,
 * strides, constants: the same bytes every step), asks the pipeline for its bind-group layout, and creates a
 * bind group (output, inputs, uniforms). Dawn's createBindGroup through N-API is the costliest call of all:
 * queueing a training step on this project's 2-core box (32 px, width 0.25, 586 dispatches, GPU work not
 * submitted) took ≈ 48 ms, of which ≈ 12 ms in createBindGroup and ≈ 6 ms in the uniforms; the whole CPU side
 * of a step is what a fast GPU waits on once its kernels are fast. Three caches, on one backend:
 *
 * - uniforms by content: a program's uniform bytes go into a buffer of their own once, and later dispatches
 *   with the same bytes bind it (no pool buffer, no writeBuffer). Programs whose uniforms change every step
 *   (a seed, Adam's bias correction) set `volatileUniforms` and keep tfjs's path.
 * - buffers by site: tfjs's pool hands out free buffers last-in first-out, so the same op gets a different
 *   buffer each step and few bind groups repeat (16% on lavapipe). After markGpuStep(), the n-th request for
 *   a buffer of a size and usage (a site) takes the newest free buffer that site had in the last steps (a
 *   weight and its update alternate between two); where none is free, a small buffer (≤ 64 KiB) of its own
 *   rather than one another site had, up to four. Which buffer an op writes changes nothing else. Every bind
 *   group repeats after five to ten steps (lavapipe: 32 px at widths 0.125 and 0.25, 64 px at width 1).
 * - bind groups by pipeline and buffers: with the two above, the same bind group serves the same op in
 *   later steps. Only buffers this module saw made (pool and uniform buffers) are cached; a pool buffer
 *   destroyed while cached clears the cache.
 *
 * Everything is the same work on the GPU: the same pipelines, inputs, uniform bytes and dispatches.
 */

/** tfjs's program uniforms before layout (WebGPUBackend.makeUniforms' argument). */
export type ProgramUniform = Array<{ type: string; data: number[] }>;
type UniformBinding = { offset: number; size: number; buffer: GPUBuffer };
/** What a site (the n-th request of a step for a size and usage) had: its buffers, newest first, and how many it made. */
interface SiteRecord {
  buffers: GPUBuffer[];
  made: number;
}
type Site = { freeListKey: string; record: SiteRecord; seen: boolean };

/** The bind-group cache: a trie over the pipeline and then each entry's buffer. */
class BindGroupNode {
  readonly next = new Map<object, BindGroupNode>();
  group: GPUBindGroup | undefined;
}

/** A program whose uniforms change from call to call (seeds, per-step constants): their bytes are not cached. */
export interface VolatileUniformsProgram {
  volatileUniforms?: boolean;
  /**
   * The program-defined uniforms (runWebGPUProgram's) that this same call would have `steps` training steps
   * later: what lets a recorded step be replayed (step-replay.ts). Absent: the step is replayed only if the
   * uniforms do not change.
   */
  uniformsStepsAhead?: (steps: number) => ProgramUniform;
}

interface BufferManagerInternals {
  freeBuffers: Map<string, GPUBuffer[]>;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  dispose(): void;
}

interface BackendInternals {
  device: GPUDevice;
  bufferManager: BufferManagerInternals;
  makeUniforms(programUniform: ProgramUniform): UniformBinding;
  recordAndSubmit(program: WebGPUProgram & { pipeline?: unknown }, ...rest: unknown[]): void;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export interface DispatchCacheStats {
  bindGroupHits: number;
  bindGroupMisses: number;
  /** Bind groups made without the cache (a buffer it did not see made, or a dispatch outside recordAndSubmit). */
  bindGroupUncached: number;
  uniformHits: number;
  uniformMisses: number;
  /** Bytes of the buffers sites made for themselves rather than take one another site had. */
  ownBufferBytes: number;
}

/** Cache sizes past which a cache starts again (shapes changed: another batch size, sampling, a new run). */
const MAX_BIND_GROUPS = 16384;
const MAX_UNIFORMS = 8192;
/** Buffer requests per step past which sites are no longer remembered (markGpuStep not called). */
const MAX_SITES_PER_STEP = 65536;
/**
 * Buffers remembered per site, newest first. Two cover a weight and its update; more let a site whose buffers
 * another op took find one of its own again (lavapipe, 32 px, before sites made buffers of their own: 77% of
 * bind groups reused with 2, 85% with 4, no better with 8; with them, all).
 */
const SITE_HISTORY = 4;
/** The largest buffer a site makes for itself rather than take one another site had (per-channel vectors, scalars: not activations). */
const OWN_BUFFER_MAX_BYTES = 65536;
/** All the buffers sites made for themselves, together (training the seed model at 64 px, width 1, batch 2 on lavapipe made 0.3 MiB). */
const OWN_BUFFERS_MAX_TOTAL_BYTES = 64 << 20;

class DispatchCaches {
  readonly stats: DispatchCacheStats = { bindGroupHits: 0, bindGroupMisses: 0, bindGroupUncached: 0, uniformHits: 0, uniformMisses: 0, ownBufferBytes: 0 };
  /** By uniformHash; entries compared value by value (sameUniforms). */
  private readonly uniforms = new Map<number, Array<{ uniforms: ProgramUniform; binding: UniformBinding }>>();
  private uniformCount = 0;
  private bindGroups = new BindGroupNode();
  private bindGroupCount = 0;
  /** Buffers made by the pool or for uniforms: their bind groups may be cached. */
  private readonly known = new WeakSet<GPUBuffer>();
  private readonly inBindGroups = new WeakSet<GPUBuffer>();
  private currentProgram: (WebGPUProgram & VolatileUniformsProgram & { pipeline?: unknown }) | undefined;
  /** Requests so far this step, per buffer key; undefined until markGpuStep is first called. */
  private requests: Map<string, number> | undefined;
  private requestsThisStep = 0;
  /** Per free-list key, by request number this step. */
  private readonly sites = new Map<string, SiteRecord[]>();
  private readonly layouts = new WeakMap<object, GPUBindGroupLayout>();
  private readonly restores: Array<() => void> = [];
  /** Called with every buffer tfjs's pool takes back or destroys (step-replay.ts watches its buffers). */
  readonly releaseWatchers = new Set<(buffer: GPUBuffer | undefined) => void>();

  constructor(private readonly backend: BackendInternals) {}

  install(): void {
    const { backend } = this;
    const manager = backend.bufferManager;
    const device = backend.device;
    const stockMakeUniforms = backend.makeUniforms;
    const stockRecordAndSubmit = backend.recordAndSubmit;
    const stockAcquire = manager.acquireBuffer;
    const stockRelease = manager.releaseBuffer;
    const stockDispose = manager.dispose;
    const stockCreateBindGroup = device.createBindGroup;

    this.wrap(backend, 'recordAndSubmit', (program, ...rest) => {
      this.currentProgram = program;
      this.memoizeLayout(program.pipeline);
      try {
        return stockRecordAndSubmit.call(backend, program, ...rest);
      } finally {
        this.currentProgram = undefined;
      }
    });
    this.wrap(backend, 'makeUniforms', (programUniform) => {
      if (this.currentProgram?.volatileUniforms) return stockMakeUniforms.call(backend, programUniform);
      return this.uniformBinding(programUniform, stockMakeUniforms);
    });
    this.wrap(manager, 'acquireBuffer', (size, usage, mappedAtCreation = false, reuse = true) => {
      const site = !mappedAtCreation && reuse ? this.nextSite(size, usage) : undefined;
      // a new buffer rather than one another site had (that site would miss in turn): the free list hidden
      const fresh = site !== undefined && !this.preferSiteBuffer(site) && this.mayMakeBuffer(site, size);
      const hidden = fresh ? manager.freeBuffers.get(site.freeListKey) : undefined;
      if (site && hidden) manager.freeBuffers.set(site.freeListKey, []);
      const buffer = stockAcquire.call(manager, size, usage, mappedAtCreation, reuse);
      if (site && hidden) manager.freeBuffers.set(site.freeListKey, [...(manager.freeBuffers.get(site.freeListKey) ?? []), ...hidden]);
      if (site) this.rememberSite(site, buffer);
      this.known.add(buffer);
      return buffer;
    });
    this.wrap(manager, 'releaseBuffer', (buffer, reuse = true) => {
      for (const watcher of this.releaseWatchers) watcher(buffer);
      // tfjs destroys it: a cached bind group holding it would fail validation
      if (!reuse && this.inBindGroups.has(buffer)) this.clearBindGroups();
      return stockRelease.call(manager, buffer, reuse);
    });
    this.wrap(manager, 'dispose', () => {
      // the backend is being disposed: its caches are of no further use, and markGpuStep must leave it alone
      for (const watcher of [...this.releaseWatchers]) watcher(undefined);
      this.clear();
      forget(this);
      return stockDispose.call(manager);
    });
    this.wrap(device, 'createBindGroup', (descriptor: GPUBindGroupDescriptor) =>
      this.bindGroup(descriptor, (d) => stockCreateBindGroup.call(device, d)),
    );
  }

  uninstall(): void {
    for (const restore of this.restores.splice(0)) restore();
    this.clear();
  }

  /** Replaces `target[name]` with `wrapper`; uninstall puts back what was there. */
  private wrap<T extends object, K extends keyof T>(target: T, name: K, wrapper: T[K]): void {
    this.restores.push(replaceMember(target, name, wrapper));
  }

  markStep(): void {
    // tfjs submits every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches and frees buffers at a submit; a step
    // that starts with a submit frees its buffers at the same dispatches every step, so the buffer each op
    // had is free again when the op comes
    const backend = this.backend;
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    this.requests = new Map();
    this.requestsThisStep = 0;
  }

  clear(): void {
    this.clearUniforms();
    this.clearBindGroups();
    this.sites.clear();
  }

  private clearBindGroups(): void {
    this.bindGroups = new BindGroupNode();
    this.bindGroupCount = 0;
  }

  /** tfjs asks the pipeline for its layout every dispatch; it is the same layout every time. */
  private memoizeLayout(pipeline: unknown): void {
    if (typeof pipeline !== 'object' || pipeline === null || this.layouts.has(pipeline)) return;
    const computePipeline = pipeline as GPUComputePipeline;
    const stock = computePipeline.getBindGroupLayout;
    const layout = stock.call(computePipeline, 0);
    this.layouts.set(pipeline, layout);
    Object.defineProperty(computePipeline, 'getBindGroupLayout', {
      value: (index: number) => (index === 0 ? layout : stock.call(computePipeline, index)),
      configurable: true,
    });
  }

  private uniformBinding(programUniform: ProgramUniform, stockMakeUniforms: BackendInternals['makeUniforms']): UniformBinding {
    const hash = uniformHash(programUniform);
    const cached = this.uniforms.get(hash)?.find((entry) => sameUniforms(entry.uniforms, programUniform));
    if (cached) {
      this.stats.uniformHits++;
      return cached.binding;
    }
    this.stats.uniformMisses++;
    // references dropped, not destroyed: a queued dispatch may still bind them
    if (this.uniformCount >= MAX_UNIFORMS) this.clearUniforms();
    const bytes = uniformBytes(programUniform, stockMakeUniforms);
    const buffer = this.backend.device.createBuffer({
      size: bytes.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(bytes);
    buffer.unmap();
    this.known.add(buffer);
    const binding = { offset: 0, size: bytes.byteLength, buffer };
    const entry = { uniforms: programUniform.map((d) => ({ type: d.type, data: [...d.data] })), binding };
    const bucket = this.uniforms.get(hash);
    if (bucket) bucket.push(entry);
    else this.uniforms.set(hash, [entry]);
    this.uniformCount++;
    return binding;
  }

  private clearUniforms(): void {
    this.uniforms.clear();
    this.uniformCount = 0;
  }

  /** The site of a buffer request: its free-list key (tfjs's `${size}_${usage}`) and its number this step. */
  private nextSite(size: number, usage: number): Site | undefined {
    if (!this.requests || this.requestsThisStep >= MAX_SITES_PER_STEP) return undefined;
    const freeListKey = `${size}_${usage}`;
    const request = this.requests.get(freeListKey) ?? 0;
    this.requests.set(freeListKey, request + 1);
    this.requestsThisStep++;
    let records = this.sites.get(freeListKey);
    if (!records) this.sites.set(freeListKey, (records = []));
    const seen = records[request] !== undefined;
    const record = (records[request] ??= { buffers: [], made: 0 });
    return { freeListKey, record, seen };
  }

  /** Moves the newest free buffer the site had to the end of the free list, where tfjs pops; false where it has none free. */
  private preferSiteBuffer(site: Site): boolean {
    const free = site.seen && this.backend.bufferManager.freeBuffers.get(site.freeListKey);
    if (!free) return false;
    for (const candidate of site.record.buffers) {
      const index = free.lastIndexOf(candidate);
      if (index >= 0) {
        free[index] = free[free.length - 1];
        free[free.length - 1] = candidate;
        return true;
      }
    }
    return false;
  }

  /**
   * A site seen before, whose buffers are all in use, may make small buffers of its own, up to SITE_HISTORY, while
   * all such buffers together stay under OWN_BUFFERS_MAX_TOTAL_BYTES (the pool never frees a buffer).
   */
  private mayMakeBuffer(site: Site, size: number): boolean {
    if (!site.seen || size > OWN_BUFFER_MAX_BYTES || site.record.made >= SITE_HISTORY) return false;
    if (this.stats.ownBufferBytes + size > OWN_BUFFERS_MAX_TOTAL_BYTES) return false;
    site.record.made++;
    this.stats.ownBufferBytes += size;
    return true;
  }

  private rememberSite(site: Site, buffer: GPUBuffer): void {
    const buffers = site.record.buffers;
    const index = buffers.indexOf(buffer);
    if (index >= 0) buffers.splice(index, 1);
    buffers.unshift(buffer);
    if (buffers.length > SITE_HISTORY) buffers.length = SITE_HISTORY;
  }

  private bindGroup(descriptor: GPUBindGroupDescriptor, create: (descriptor: GPUBindGroupDescriptor) => GPUBindGroup): GPUBindGroup {
    const cached = this.cachedBindGroup(descriptor);
    if (cached) {
      this.stats.bindGroupHits++;
      return cached;
    }
    if (this.bindGroupCount >= MAX_BIND_GROUPS) this.clearBindGroups();
    const node = this.bindGroupNode(descriptor);
    if (!node) {
      this.stats.bindGroupUncached++;
      return create(descriptor);
    }
    this.stats.bindGroupMisses++;
    const group = create(descriptor);
    node.group = group;
    this.bindGroupCount++;
    for (const entry of descriptor.entries) this.inBindGroups.add((entry.resource as GPUBufferBinding).buffer);
    return group;
  }

  /** The cached group, walking the trie without adding to it: a path in it holds only buffers bindGroupNode accepted. */
  private cachedBindGroup(descriptor: GPUBindGroupDescriptor): GPUBindGroup | undefined {
    const pipeline = this.currentProgram?.pipeline;
    let node = typeof pipeline === 'object' && pipeline !== null ? this.bindGroups.next.get(pipeline) : undefined;
    let binding = 0;
    for (const entry of descriptor.entries) {
      if (!node) return undefined;
      const resource = entry.resource as Partial<GPUBufferBinding>;
      const buffer = resource.buffer;
      if (!buffer || entry.binding !== binding++ || (resource.offset ?? 0) !== 0 || (resource.size !== undefined && resource.size !== buffer.size)) return undefined;
      node = node.next.get(buffer);
    }
    return node?.group;
  }

  /**
   * The trie node of the pipeline being recorded and every entry's buffer, made where missing; undefined where the
   * group cannot be cached: outside recordAndSubmit, a buffer this module did not see made, or part of a buffer bound.
   */
  private bindGroupNode(descriptor: GPUBindGroupDescriptor): BindGroupNode | undefined {
    const pipeline = this.currentProgram?.pipeline;
    if (typeof pipeline !== 'object' || pipeline === null) return undefined;
    const buffers: GPUBuffer[] = [];
    for (const entry of descriptor.entries) {
      const resource = entry.resource as Partial<GPUBufferBinding>;
      const buffer = resource.buffer;
      if (!buffer || !this.known.has(buffer) || entry.binding !== buffers.length) return undefined;
      if ((resource.offset ?? 0) !== 0 || (resource.size !== undefined && resource.size !== buffer.size)) return undefined;
      buffers.push(buffer);
    }
    return buffers.reduce((node, buffer) => this.child(node, buffer), this.child(this.bindGroups, pipeline));
  }

  private child(node: BindGroupNode, key: object): BindGroupNode {
    let next = node.next.get(key);
    if (!next) node.next.set(key, (next = new BindGroupNode()));
    return next;
  }
}

/**
 * Sets `target[name]` to `value`; returns the function that puts back what was there (an own property, or none,
 * so that the prototype's shows again).
 */
export function replaceMember<T extends object, K extends keyof T>(target: T, name: K, value: T[K]): () => void {
  const own = Object.prototype.hasOwnProperty.call(target, name);
  const original = target[name];
  target[name] = value;
  return () => {
    if (own) target[name] = original;
    else delete target[name];
  };
}

const hashScratch = new Float64Array(1);
const hashWords = new Uint32Array(hashScratch.buffer);

/** FNV-1a over each field's type, length and values' float64 bits (so -0 and 0 differ, as their float32 bits do). */
export function uniformHash(programUniform: ProgramUniform): number {
  let hash = 0x811c9dc5;
  for (const { type, data } of programUniform) {
    hash = Math.imul(hash ^ type.charCodeAt(0), 0x01000193);
    hash = Math.imul(hash ^ data.length, 0x01000193);
    for (const value of data) {
      hashScratch[0] = value;
      hash = Math.imul(hash ^ hashWords[0], 0x01000193);
      hash = Math.imul(hash ^ hashWords[1], 0x01000193);
    }
  }
  return hash >>> 0;
}

/** The same fields, types and values (Object.is: NaN equals NaN, -0 is not 0). */
export function sameUniforms(a: ProgramUniform, b: ProgramUniform): boolean {
  if (a.length !== b.length) return false;
  for (let field = 0; field < a.length; field++) {
    const x = a[field];
    const y = b[field];
    if (x.type !== y.type || x.data.length !== y.data.length) return false;
    for (let i = 0; i < x.data.length; i++) if (!Object.is(x.data[i], y.data[i])) return false;
  }
  return true;
}

/**
 * The bytes tfjs would write for these uniforms: its own makeUniforms (the WGSL layout rules and its
 * choices for long arrays), run against a pool and queue that only catch what it writes.
 */
export function uniformBytes(programUniform: ProgramUniform, stockMakeUniforms: BackendInternals['makeUniforms']): Uint8Array {
  let written: Uint8Array | undefined;
  const catcher = {
    bufferManager: { acquireBuffer: () => ({}) },
    queue: {
      writeBuffer: (_buffer: unknown, _offset: number, data: ArrayBuffer, dataOffset: number, size: number) => {
        written = new Uint8Array(data, dataOffset, size).slice();
      },
    },
    uniformPendingDisposal: [] as unknown[],
  };
  // makeUniforms replaces empty data with [1]; the copy keeps the caller's arrays as they were
  stockMakeUniforms.call(catcher as unknown as BackendInternals, programUniform.map((d) => ({ type: d.type, data: [...d.data] })));
  if (!written) throw new Error('tfjs-backend-webgpu makeUniforms wrote no uniforms: the dispatch cache does not fit this tfjs version');
  return written;
}

const installed = new WeakMap<object, DispatchCaches>();
let active: DispatchCaches | undefined;

function forget(caches: DispatchCaches): void {
  if (active === caches) active = undefined;
}

/** Whether FACEGAN_WEBGPU_DISPATCH_CACHE leaves the caches on (the default; `0` turns them off). */
export function dispatchCacheEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['FACEGAN_WEBGPU_DISPATCH_CACHE'] !== '0';
}

/** Installs the caches on a webgpu backend (idempotent); they stay until removeDispatchCaches or its disposal. */
export function installDispatchCaches(backend: WebGPUBackend): void {
  let caches = installed.get(backend);
  if (!caches) {
    caches = new DispatchCaches(backend as unknown as BackendInternals);
    caches.install();
    installed.set(backend, caches);
  }
  active = caches;
}

export function removeDispatchCaches(backend: WebGPUBackend): void {
  const caches = installed.get(backend);
  if (!caches) return;
  caches.uninstall();
  installed.delete(backend);
  if (active === caches) active = undefined;
}

/**
 * Calls `watcher` with each buffer tfjs's pool takes back (or destroys) from now on, and with undefined when
 * the pool is disposed; returns the function that stops it. Undefined where no caches are installed.
 */
export function watchBufferReleases(backend: WebGPUBackend, watcher: (buffer: GPUBuffer | undefined) => void): (() => void) | undefined {
  const caches = installed.get(backend);
  if (!caches) return undefined;
  caches.releaseWatchers.add(watcher);
  return () => caches.releaseWatchers.delete(watcher);
}

export function dispatchCachesInstalled(backend: WebGPUBackend): boolean {
  return installed.has(backend);
}

/** The counts so far on `backend` (zeros where no caches are installed). */
export function dispatchCacheStats(backend: WebGPUBackend): DispatchCacheStats {
  const stats = installed.get(backend)?.stats;
  return stats ? { ...stats } : { bindGroupHits: 0, bindGroupMisses: 0, bindGroupUncached: 0, uniformHits: 0, uniformMisses: 0, ownBufferBytes: 0 };
}

/**
 * A training step starts: from here, buffer requests are numbered again, so each op of the step can get
 * the buffer it had in the last steps (see DispatchCaches). A no-op where no caches are installed.
 */
export function markGpuStep(): void {
  active?.markStep();
}

/**
 * Runs `step` until a step makes under 1% new bind groups — the caches need five to ten steps to settle (a
 * weight and its update alternate between two buffers, and buffers over 64 KiB are shared between sites) — at
 * most `maxSteps` times; returns how many ran.
 * For benchmarks, so that timed steps are steady ones. Runs nothing where no caches are installed on `backend`.
 */
export async function warmDispatchCaches(backend: WebGPUBackend, step: () => Promise<unknown>, maxSteps = 12): Promise<number> {
  if (!installed.has(backend)) return 0;
  for (let ran = 1; ran <= maxSteps; ran++) {
    const before = dispatchCacheStats(backend);
    await step();
    const after = dispatchCacheStats(backend);
    const made = after.bindGroupMisses - before.bindGroupMisses + after.bindGroupUncached - before.bindGroupUncached;
    const all = made + after.bindGroupHits - before.bindGroupHits;
    if (made <= all / 100) return ran;
  }
  return maxSteps;
}
