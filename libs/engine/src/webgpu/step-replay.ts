import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import {
  dispatchCachesInstalled,
  replaceMember,
  uniformBytes,
  watchBufferReleases,
  type ProgramUniform,
  type VolatileUniformsProgram,
} from './dispatch-cache';

/**
 * Training steps replayed without tfjs: once a step's GPU work has settled, the same commands are sent again,
 * step after step, in the spirit of CUDA graphs.
 *
 * Why: with the project's kernels, a step's CPU side (tfjs's engine, tape and kernel functions, then ≈ 620
 * dispatches through Dawn) took 28.7 ms at 64 px on the H200 machine's CPU, about as long as the GPU's work,
 * and it varied from process to process. Replayed, a step costs its three Dawn calls per dispatch.
 *
 * How: a step is recorded as tfjs runs it: every dispatch (pipeline, bind group, workgroup counts) and every
 * byte written to a buffer (uploads of constants, uniforms). The dispatch caches (dispatch-cache.ts) make each
 * op bind the same buffers step after step, so once two consecutive steps match — the same ops, each reading what
 * the same earlier op wrote (or the same input, variable or constant), the same bytes except the uniforms that
 * change every step, whose programs say what they will be (uniformsStepsAhead) — the later one is the graph.
 * Then:
 * - the graph owns every buffer it uses that tfjs's pool holds free, so nothing else is handed them;
 * - tfjs gave each updated variable (weights, Adam moments, batch-norm statistics) a new buffer; the graph
 *   moves the new values back into the buffers the step read them from and points the variables there, so
 *   what tfjs sees after a replay is what it would see after a step it ran;
 * - the step's input (the real images) is copied into the buffer the recorded step read, and its output (the
 *   statistics) into a new tensor.
 * The caller advances the JS side (step counter, optimizers' iteration counts) for each replay.
 *
 * It stops replaying (and records again) when tfjs's pool takes back any buffer the graph uses (a variable
 * assigned or disposed: setWeights, a resumed checkpoint), when the input's shape changes (a last short batch
 * runs through tfjs), or while tfjs is profiling. Everything is the same work on the GPU: the same pipelines,
 * bind groups and uniform bytes in the same order, so a replayed run computes what tfjs would, bit for bit.
 */

/** Consecutive steps recorded without two matching before recording stops for good (structure never settles). */
const MAX_RECORDED_STEPS = 64;
/** Graphs dropped before recording stops for good (something keeps taking the graph's buffers). */
const MAX_INVALIDATIONS = 32;

interface PoolInternals {
  freeBuffers: Map<string, GPUBuffer[]>;
  usedBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numUsedBuffers: number;
  numBytesUsed: number;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
}

interface TensorData {
  resource?: unknown;
  values?: ArrayLike<number> | null;
  dtype: tf.DataType;
}

type RecordedProgram = WebGPUProgram & VolatileUniformsProgram & { pipeline?: unknown; dispatch: [number, number, number] };

interface BackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  bufferManager: PoolInternals;
  tensorMap: { get(dataId: object): TensorData | undefined };
  makeUniforms(programUniform: ProgramUniform): { buffer: GPUBuffer; offset: number; size: number };
  recordAndSubmit(program: RecordedProgram, ...rest: unknown[]): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  activeTimers?: unknown;
}

interface DispatchOp {
  kind: 'dispatch';
  /** The program's shader key up to its first '_' (faceganAdamWeight, binary, fill…): what timeDispatches groups by. */
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  /** The bind group's buffers by binding: the output first, then the inputs, then the uniforms (tfjs's layout). */
  buffers: GPUBuffer[];
  workgroups: [number, number, number];
}

interface WriteOp {
  kind: 'write';
  buffer: GPUBuffer;
  offset: number;
  bytes: Uint8Array;
  /** What wrote it: an upload, or the uniforms of a program (by shader key); for the reasons in stats. */
  source: string;
  /** A volatile program's uniforms: all of them as recorded, and its program-defined ones some steps later. */
  uniforms?: ProgramUniform;
  uniformsStepsAhead?: (steps: number) => ProgramUniform;
}

type Op = DispatchOp | WriteOp;

interface Recording {
  ops: Op[];
  input: GPUBuffer;
  inputShape: number[];
  output: tf.Tensor;
  outputBuffer: GPUBuffer;
  /** Clones of the input and output, so that their buffers stay the step's. */
  kept: tf.Tensor[];
  /**
   * Every variable the step assigned, with the buffers it started and ended in: mostly another one, but the same
   * one is possible (updated three times a step, a batch-norm statistic can get its first buffer back).
   */
  updated: Array<{ variable: tf.Variable; before: GPUBuffer; after: GPUBuffer }>;
}

interface Move {
  from: GPUBuffer;
  to: GPUBuffer;
}

interface Graph {
  ops: Op[];
  /** Where each write's bytes are in the arena; hoisted writes are copied before the first dispatch. */
  writes: Map<WriteOp, { arenaOffset: number; hoisted: boolean }>;
  volatileWrites: WriteOp[];
  arena: GPUBuffer;
  arenaBytes: Uint8Array<ArrayBuffer>;
  input: GPUBuffer;
  inputShape: number[];
  output: { shape: number[]; dtype: tf.DataType; buffer: GPUBuffer };
  moves: Move[];
  /** Pool buffers the graph took (free ones, and the buffers variables left), given back when it is dropped. */
  owned: GPUBuffer[];
  /** Buffers made for the moves' cycles; destroyed when it is dropped. */
  temporaries: GPUBuffer[];
  /** Every pool buffer it uses: tfjs taking one back ends the graph. */
  watched: Set<GPUBuffer>;
  /** Tensors it holds so that their buffers stay: the recorded step's input and output. */
  kept: tf.Tensor[];
  /** The variables each replay updates (in their buffers: tfjs does not know). */
  variables: tf.Variable[];
  replays: number;
  stopWatching: () => void;
}

export interface StepReplayStats {
  /** Steps run by tfjs with their commands recorded. */
  recorded: number;
  /** Steps replayed. */
  replayed: number;
  /** Graphs made (two matching steps), and dropped (see the top of the file). */
  graphs: number;
  dropped: number;
  /** Dispatches and buffer writes a replay sends (0 before the first graph). */
  dispatchesPerStep: number;
  writesPerStep: number;
  /** Compute passes a replay sends: a write that cannot go first (its buffer is used earlier in the step) ends one. */
  passesPerStep: number;
  /** Why the last two recorded steps did not match, or why the last graph was dropped. */
  lastReason?: string;
}

export interface StepReplay {
  /**
   * Runs a training step: `run(input)` through tfjs (recording it, until two steps match), or a replay of the
   * recorded one, in which case `advance()` is called first to move the caller's JS state on by one step as
   * `run` would have. Returns what `run` returns (a new tensor the caller disposes).
   */
  step(input: tf.Tensor, run: (input: tf.Tensor) => tf.Tensor, advance: () => void): tf.Tensor;
  readonly stats: StepReplayStats;
  /**
   * Benchmarks only: the wall time of the graph's dispatches (those whose label `keep` keeps), sent `repeats`
   * times back to back in one submit, per repeat, after two unmeasured repeats; how many dispatches a repeat
   * has, by label. Undefined without a graph. With no CPU work between them, this is the GPU's time; leaving
   * a group out says what it costs, without the per-kernel timestamps that put every dispatch in a pass of its
   * own. The dispatches run on the graph's buffers: the variables are trained on what is there, so the
   * trainer is of no further use.
   */
  timeDispatches(repeats: number, keep?: (label: string) => boolean): Promise<{ msPerRepeat: number; dispatches: Map<string, number> } | undefined>;
  /**
   * Benchmarks only, as timeDispatches: each dispatch of the graph sent `repeats` times in a submit of its own
   * (the quicker of two tries), its wall time per repeat less that of an empty submit; in the step's order.
   * Undefined without a graph. On lavapipe the waits vary too much for small dispatches to mean anything.
   */
  timeEachDispatch(repeats: number): Promise<Array<{ index: number; label: string; workgroups: [number, number, number]; ms: number }> | undefined>;
  /** Drops the graph (the variables stay where tfjs sees them) and stops. */
  dispose(): void;
}

/** Whether FACEGAN_STEP_REPLAY leaves replay on (the default; `0` turns it off). */
export function stepReplayEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['FACEGAN_STEP_REPLAY'] !== '0';
}

/**
 * A step replayer for the current backend; undefined off webgpu, without the dispatch caches (steps would not
 * repeat their buffers) or with FACEGAN_STEP_REPLAY=0.
 */
export function createStepReplay(): StepReplay | undefined {
  if (tf.getBackend() !== 'webgpu' || !stepReplayEnabled()) return undefined;
  const backend = tf.backend() as WebGPUBackend;
  if (!dispatchCachesInstalled(backend)) return undefined;
  return new Replayer(backend);
}

class Replayer implements StepReplay {
  readonly stats: StepReplayStats = { recorded: 0, replayed: 0, graphs: 0, dropped: 0, dispatchesPerStep: 0, writesPerStep: 0, passesPerStep: 0 };
  private readonly backend: BackendInternals;
  private readonly stockMakeUniforms: BackendInternals['makeUniforms'];
  private previous: Recording | undefined;
  private graph: Graph | undefined;
  private recordedWithoutMatch = 0;
  private stopped = false;
  /** What the last recorded step returned (record() sets it even when the recording is unusable). */
  private result!: tf.Tensor;

  constructor(private readonly webgpu: WebGPUBackend) {
    this.backend = webgpu as unknown as BackendInternals;
    this.stockMakeUniforms = (Object.getPrototypeOf(webgpu) as BackendInternals).makeUniforms;
  }

  step(input: tf.Tensor, run: (input: tf.Tensor) => tf.Tensor, advance: () => void): tf.Tensor {
    if (this.graph && !this.replayable(this.graph, input)) this.drop('the input or the backend changed');
    if (this.graph) return this.replay(this.graph, input, advance);
    if (this.stopped || tf.backend() !== this.webgpu || this.profiling()) return run(input);
    const recording = this.record(input, run);
    if (typeof recording === 'string') {
      this.forgetPrevious();
      this.note(recording);
      return this.result;
    }
    const mismatch = this.previous ? differences(this.previous, recording, this.stockMakeUniforms) : 'first recorded step';
    this.forgetPrevious();
    if (mismatch === undefined) {
      const made = this.makeGraph(recording);
      if (typeof made === 'string') {
        tf.dispose(recording.kept);
        this.note(made);
      } else {
        this.graph = made;
        this.stats.graphs++;
        this.stats.dispatchesPerStep = made.ops.filter((op) => op.kind === 'dispatch').length;
        this.stats.writesPerStep = made.ops.length - this.stats.dispatchesPerStep;
        this.stats.passesPerStep = countPasses(made);
        this.recordedWithoutMatch = 0;
      }
    } else {
      this.previous = recording;
      this.note(mismatch);
    }
    return this.result;
  }

  dispose(): void {
    this.forgetPrevious();
    if (this.graph) this.drop('disposed');
    this.stopped = true;
  }

  async timeDispatches(repeats: number, keep: (label: string) => boolean = () => true): Promise<{ msPerRepeat: number; dispatches: Map<string, number> } | undefined> {
    const graph = this.graph;
    if (!graph) return undefined;
    const kept = graph.ops.filter((op): op is DispatchOp => op.kind === 'dispatch' && keep(op.label));
    const dispatches = new Map<string, number>();
    for (const op of kept) dispatches.set(op.label, (dispatches.get(op.label) ?? 0) + 1);
    flush(this.backend);
    await this.sendDispatches(kept, 2);
    return { msPerRepeat: (await this.sendDispatches(kept, repeats)) / repeats, dispatches };
  }

  async timeEachDispatch(repeats: number): Promise<Array<{ index: number; label: string; workgroups: [number, number, number]; ms: number }> | undefined> {
    const graph = this.graph;
    if (!graph) return undefined;
    flush(this.backend);
    const dispatches = graph.ops.filter((op): op is DispatchOp => op.kind === 'dispatch');
    for (const op of dispatches) await this.sendDispatches([op], 1); // pipelines and caches warm
    // what a submit and its wait cost with nothing in it: the median of a few
    const empty: number[] = [];
    for (let i = 0; i < 5; i++) empty.push(await this.sendDispatches([], repeats));
    const overhead = empty.sort((a, b) => a - b)[2];
    const times = [];
    for (const [index, op] of dispatches.entries()) {
      // the quicker of two tries: a submit's wait varies
      const ms = Math.min(await this.sendDispatches([op], repeats), await this.sendDispatches([op], repeats));
      times.push({ index, label: op.label, workgroups: op.workgroups, ms: Math.max(0, ms - overhead) / repeats });
    }
    return times;
  }

  /** Sends `dispatches` `times` times over in one pass and submit; the wall ms until the device has done them. */
  private async sendDispatches(dispatches: readonly DispatchOp[], times: number): Promise<number> {
    const { device, queue } = this.backend;
    const started = performance.now();
    const encoder = device.createCommandEncoder();
    if (dispatches.length > 0) {
      const pass = encoder.beginComputePass();
      for (let i = 0; i < times; i++) {
        for (const op of dispatches) {
          pass.setPipeline(op.pipeline);
          pass.setBindGroup(0, op.bindGroup);
          pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
        }
      }
      pass.end();
    }
    queue.submit([encoder.finish()]);
    await queue.onSubmittedWorkDone();
    return performance.now() - started;
  }

  private note(reason: string): void {
    this.stats.lastReason = reason;
    if (++this.recordedWithoutMatch >= MAX_RECORDED_STEPS) this.stopped = true;
  }

  private forgetPrevious(): void {
    if (this.previous) tf.dispose(this.previous.kept);
    this.previous = undefined;
  }

  /** Runs `run` through tfjs, recording its commands; a string says why the recording cannot serve. */
  private record(input: tf.Tensor, run: (input: tf.Tensor) => tf.Tensor): Recording | string {
    const backend = this.backend;
    const ops: Op[] = [];
    let failure: string | undefined;
    const fail = (reason: string) => (failure ??= reason);
    let program: RecordedProgram | undefined;
    let group: { group: GPUBindGroup; buffers: GPUBuffer[] } | undefined;
    const restores: Array<() => void> = [];
    const patch = <T extends object, K extends keyof T>(target: T, name: K, make: (stock: T[K]) => T[K]) => {
      restores.push(replaceMember(target, name, make(target[name])));
    };
    const before = variableBuffers(backend);
    backend.uploadToGPU(input.dataId); // the input's bytes are the caller's, not the step's

    patch(backend, 'recordAndSubmit', (stock) => (recorded, ...rest) => {
      program = recorded;
      group = undefined;
      try {
        stock.call(backend, recorded, ...rest);
      } finally {
        program = undefined;
      }
      if (backend.activeTimers) fail('tfjs is profiling');
      // set by the createBindGroup below, during the stock call (TypeScript cannot see that)
      const made = group as { group: GPUBindGroup; buffers: GPUBuffer[] } | undefined;
      if (!made || typeof recorded.pipeline !== 'object' || recorded.pipeline === null) fail('a dispatch without a pipeline or bind group');
      else {
        ops.push({
          kind: 'dispatch',
          label: String(recorded.shaderKey).split('_')[0],
          pipeline: recorded.pipeline as GPUComputePipeline,
          bindGroup: made.group,
          buffers: made.buffers,
          workgroups: [...recorded.dispatch],
        });
      }
    });
    patch(backend.device, 'createBindGroup', (stock) => (descriptor: GPUBindGroupDescriptor) => {
      const made = stock.call(backend.device, descriptor);
      const buffers: GPUBuffer[] = [];
      for (const [index, entry] of [...descriptor.entries].entries()) {
        const resource = entry.resource as Partial<GPUBufferBinding>;
        if (!resource.buffer || entry.binding !== index || (resource.offset ?? 0) !== 0) fail('a bind group with part of a buffer or a texture');
        else buffers.push(resource.buffer);
      }
      group = { group: made, buffers };
      return made;
    });
    patch(backend, 'makeUniforms', (stock) => (programUniform) => {
      const binding = stock.call(backend, programUniform);
      const last = ops[ops.length - 1];
      if (program?.volatileUniforms && program.uniformsStepsAhead && last?.kind === 'write' && last.buffer === binding.buffer) {
        last.uniforms = programUniform.map((field) => ({ type: field.type, data: [...field.data] }));
        last.uniformsStepsAhead = program.uniformsStepsAhead;
      }
      return binding;
    });
    const queue = backend.queue;
    patch(queue, 'writeBuffer', (stock) => (buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) => {
      stock.call(queue, buffer, offset, data as BufferSource, dataOffset, size);
      ops.push({ kind: 'write', buffer, offset, bytes: bytesOf(data, dataOffset ?? 0, size), source: program ? `uniforms of ${program.shaderKey}` : 'a write' });
    });
    patch(backend, 'uploadToGPU', (stock) => (dataId: object) => {
      const data = backend.tensorMap.get(dataId);
      const values = data && data.resource == null ? data.values : undefined;
      stock.call(backend, dataId);
      if (values != null && data) {
        const typed = data.dtype === 'int32' || data.dtype === 'bool' ? Int32Array.from(values) : Float32Array.from(values);
        ops.push({ kind: 'write', buffer: data.resource as GPUBuffer, offset: 0, bytes: new Uint8Array(typed.buffer), source: `an upload of ${typed.length} values` });
      }
    });
    const internals = backend as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['readSync', 'read', 'readToGPU', 'copyBuffer']) {
      patch(internals, name, (stock) => (...args: unknown[]) => {
        fail(`the step called ${name}`);
        return stock.apply(backend, args);
      });
    }

    try {
      this.result = run(input);
    } finally {
      for (const restore of restores.reverse()) restore();
    }
    this.stats.recorded++;
    flush(backend); // the step's disposals reach the pool
    if (failure) return failure;
    const inputBuffer = backend.tensorMap.get(input.dataId)?.resource;
    const outputBuffer = backend.tensorMap.get(this.result.dataId)?.resource;
    if (!isBuffer(inputBuffer) || !isBuffer(outputBuffer)) return 'the input or output is not in a GPU buffer';
    const after = variableBuffers(backend);
    const updated: Recording['updated'] = [];
    for (const [variable, now] of after) {
      const then = before.get(variable);
      if (then !== undefined && then.dataId !== now.dataId) updated.push({ variable, before: then.buffer, after: now.buffer });
    }
    const kept = [tf.keep(input.clone()), tf.keep(this.result.clone())];
    return { ops, input: inputBuffer, inputShape: [...input.shape], output: kept[1], outputBuffer, updated, kept };
  }

  private makeGraph(recording: Recording): Graph | string {
    const backend = this.backend;
    const pool = backend.bufferManager;
    // the variables the step left in other buffers than it found them in go back after each replay
    const moved = recording.updated.filter((update) => update.before !== update.after);
    const homes = new Set(moved.map((move) => move.before));
    const afters = new Set(moved.map((move) => move.after));
    const pooled = (buffer: GPUBuffer) => poolList(pool.freeBuffers, buffer) !== undefined || poolList(pool.usedBuffers, buffer) !== undefined;
    const free = (buffer: GPUBuffer) => poolList(pool.freeBuffers, buffer) !== undefined;

    // what the step reads before writing must still hold it at the next step
    const written = new Set<GPUBuffer>();
    for (const op of recording.ops) {
      if (op.kind === 'write') {
        written.add(op.buffer);
        continue;
      }
      for (const buffer of op.buffers.slice(1)) {
        if (written.has(buffer) || homes.has(buffer) || buffer === recording.input || !pooled(buffer)) continue;
        if (free(buffer) || afters.has(buffer)) return 'the step reads a buffer it does not write and no tensor holds';
      }
      written.add(op.buffers[0]);
    }
    if (homes.has(recording.outputBuffer) || homes.has(recording.input)) return 'a variable was left in the input or output buffer';

    const used = new Set<GPUBuffer>([recording.input, recording.outputBuffer, ...homes, ...afters]);
    for (const op of recording.ops) {
      if (op.kind === 'write') used.add(op.buffer);
      else for (const buffer of op.buffers) used.add(buffer);
    }
    const owned: GPUBuffer[] = [];
    for (const buffer of used) {
      if (free(buffer)) {
        takeFromPool(pool, buffer);
        if (!homes.has(buffer)) owned.push(buffer);
      } else if (afters.has(buffer) && !homes.has(buffer)) {
        owned.push(buffer); // tfjs counts it in use; the variable that had it moves back home
      }
    }
    for (const { variable, before } of moved) {
      const data = backend.tensorMap.get(variable.dataId);
      if (data) data.resource = before;
    }
    forgetCpuCopies(backend, recording.updated.map((update) => update.variable));
    const temporaries: GPUBuffer[] = [];
    const moves = orderMoves(
      moved.map((move) => ({ from: move.after, to: move.before })),
      (size) => {
        const buffer = backend.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
        temporaries.push(buffer);
        return buffer;
      },
    );

    // a write to a buffer an earlier op used gets a buffer of its own: then every write can go first
    // (the variables' own buffers are written by the moves after the step: what the step left there does not matter)
    const observed = new Set<GPUBuffer>([recording.input, recording.outputBuffer, ...recording.updated.map((update) => update.after)]);
    const device = backend.device;
    const ops = separateRewrites(recording.ops, observed, {
      buffer: (like) => {
        const buffer = device.createBuffer({ size: like.size, usage: like.usage });
        temporaries.push(buffer);
        return buffer;
      },
      bindGroup: (pipeline, buffers) =>
        device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) }),
    });

    // every write's bytes in one buffer; a write to a buffer no earlier op touches goes first
    const writes = new Map<WriteOp, { arenaOffset: number; hoisted: boolean }>();
    const touched = new Set<GPUBuffer>();
    let arenaSize = 0;
    for (const op of ops) {
      if (op.kind === 'write') {
        writes.set(op, { arenaOffset: arenaSize, hoisted: !touched.has(op.buffer) });
        arenaSize += align4(op.bytes.byteLength);
        touched.add(op.buffer);
      } else {
        for (const buffer of op.buffers) touched.add(buffer);
      }
    }
    const arenaBytes = new Uint8Array(Math.max(4, arenaSize));
    for (const [op, place] of writes) arenaBytes.set(op.bytes, place.arenaOffset);
    const arena = backend.device.createBuffer({ size: arenaBytes.byteLength, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    backend.queue.writeBuffer(arena, 0, arenaBytes);

    // the variables' values as the step left them, where they will be read from now on
    const encoder = backend.device.createCommandEncoder();
    for (const move of moves) encoder.copyBufferToBuffer(move.from, 0, move.to, 0, move.from.size);
    backend.queue.submit([encoder.finish()]);

    const graph: Graph = {
      ops,
      writes,
      volatileWrites: ops.filter((op): op is WriteOp => op.kind === 'write' && op.uniformsStepsAhead !== undefined),
      arena,
      arenaBytes,
      input: recording.input,
      inputShape: recording.inputShape,
      output: { shape: [...recording.output.shape], dtype: recording.output.dtype, buffer: recording.outputBuffer },
      moves,
      owned,
      temporaries,
      watched: new Set([...used].filter((buffer) => pooled(buffer))),
      kept: recording.kept,
      variables: recording.updated.map((update) => update.variable),
      replays: 0,
      stopWatching: () => undefined,
    };
    const stop = watchBufferReleases(this.webgpu, (buffer) => {
      if (buffer === undefined) {
        // the pool is being destroyed, and every buffer with it
        graph.owned = [];
        this.drop('the backend was disposed');
      } else if (graph.watched.has(buffer) && this.graph === graph) {
        this.drop('tfjs took back a buffer the graph uses');
      }
    });
    graph.stopWatching = stop ?? (() => undefined);
    return graph;
  }

  /** tf.profile or tf.time is timing kernels: they must run through tfjs. */
  private profiling(): boolean {
    return Boolean(this.backend.activeTimers) || (tf.engine() as unknown as { state: { profiling: boolean } }).state.profiling;
  }

  private replayable(graph: Graph, input: tf.Tensor): boolean {
    return (
      tf.backend() === this.webgpu &&
      !this.profiling() &&
      tf.util.arraysEqual(input.shape, graph.inputShape) &&
      input.dtype === 'float32'
    );
  }

  private replay(graph: Graph, input: tf.Tensor, advance: () => void): tf.Tensor {
    const backend = this.backend;
    backend.uploadToGPU(input.dataId);
    const inputBuffer = backend.tensorMap.get(input.dataId)?.resource as GPUBuffer;
    advance();
    const steps = ++graph.replays;
    for (const op of graph.volatileWrites) {
      const bytes = uniformsAhead(op, steps, this.stockMakeUniforms);
      if (bytes.byteLength !== op.bytes.byteLength) throw new Error('step replay: a program changed its uniforms\' layout');
      graph.arenaBytes.set(bytes, graph.writes.get(op)!.arenaOffset);
    }
    // tfjs's queued work (the input's upload or preparation) goes first
    flush(backend);
    if (graph.volatileWrites.length > 0) backend.queue.writeBuffer(graph.arena, 0, graph.arenaBytes);
    const output = this.newTensor(graph.output.shape, graph.output.dtype);
    const outputBuffer = backend.tensorMap.get(output.dataId)?.resource as GPUBuffer;

    const encoder = backend.device.createCommandEncoder();
    if (inputBuffer !== graph.input) encoder.copyBufferToBuffer(inputBuffer, 0, graph.input, 0, graph.input.size);
    for (const [op, place] of graph.writes) {
      if (place.hoisted) encoder.copyBufferToBuffer(graph.arena, place.arenaOffset, op.buffer, op.offset, op.bytes.byteLength);
    }
    let pass: GPUComputePassEncoder | undefined;
    let pipeline: GPUComputePipeline | undefined;
    for (const op of graph.ops) {
      if (op.kind === 'dispatch') {
        if (!pass) {
          pass = encoder.beginComputePass();
          pipeline = undefined;
        }
        if (op.pipeline !== pipeline) pass.setPipeline((pipeline = op.pipeline));
        pass.setBindGroup(0, op.bindGroup);
        pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
        continue;
      }
      const place = graph.writes.get(op)!;
      if (place.hoisted) continue;
      pass?.end();
      pass = undefined;
      encoder.copyBufferToBuffer(graph.arena, place.arenaOffset, op.buffer, op.offset, op.bytes.byteLength);
    }
    pass?.end();
    // the output before the moves: a variable may be going back to a buffer the output passed through
    encoder.copyBufferToBuffer(graph.output.buffer, 0, outputBuffer, 0, outputBuffer.size);
    for (const move of graph.moves) encoder.copyBufferToBuffer(move.from, 0, move.to, 0, move.from.size);
    backend.queue.submit([encoder.finish()]);
    forgetCpuCopies(backend, graph.variables);
    this.stats.replayed++;
    return output;
  }

  private newTensor(shape: number[], dtype: tf.DataType): tf.Tensor {
    const info = this.backend.makeTensorInfo(shape, dtype);
    this.backend.uploadToGPU(info.dataId);
    return tf.engine().makeTensorFromTensorInfo(info, this.webgpu);
  }

  private drop(reason: string): void {
    const graph = this.graph;
    this.graph = undefined;
    this.stats.lastReason = reason;
    if (!graph) return;
    this.stats.dropped++;
    if (this.stats.dropped >= MAX_INVALIDATIONS) this.stopped = true;
    graph.stopWatching();
    for (const buffer of graph.owned) this.backend.bufferManager.releaseBuffer(buffer);
    for (const buffer of graph.temporaries) buffer.destroy();
    graph.arena.destroy();
    tf.dispose(graph.kept);
  }
}

/** Writes larger than this keep their buffer (and end a compute pass): the step's uploads are scalars. */
const SEPARATE_WRITE_MAX_BYTES = 65536;

/**
 * The ops with each write to a buffer that an earlier op used (tfjs's pool hands a uniform or scalar buffer
 * out again once a submit frees it) sent to a new buffer instead, and the ops that read that value bound to
 * it (new bind groups). Every write then targets a buffer no earlier op touched and can go before the first
 * dispatch, so a replay is one compute pass. A write that leaves a buffer read after the step (`observed`)
 * keeps its buffer.
 */
export function separateRewrites(
  ops: readonly Op[],
  observed: ReadonlySet<GPUBuffer>,
  makers: { buffer: (like: GPUBuffer) => GPUBuffer; bindGroup: (pipeline: GPUComputePipeline, buffers: GPUBuffer[]) => GPUBindGroup },
): Op[] {
  const lastWrite = new Map<GPUBuffer, number>();
  ops.forEach((op, index) => lastWrite.set(op.kind === 'write' ? op.buffer : op.buffers[0], index));
  const touched = new Set<GPUBuffer>();
  /** The buffer that now holds what the step last wrote to each original buffer. */
  const current = new Map<GPUBuffer, GPUBuffer>();
  return ops.map((op, index) => {
    if (op.kind === 'write') {
      const final = observed.has(op.buffer) && lastWrite.get(op.buffer) === index;
      const separate = touched.has(op.buffer) && !final && op.bytes.byteLength <= SEPARATE_WRITE_MAX_BYTES;
      touched.add(op.buffer);
      if (!separate) {
        current.delete(op.buffer);
        return op;
      }
      const buffer = makers.buffer(op.buffer);
      current.set(op.buffer, buffer);
      return { ...op, buffer };
    }
    for (const buffer of op.buffers) touched.add(buffer);
    // the output (binding 0) is written where tfjs put it; the inputs are read from wherever they are now
    const buffers = op.buffers.map((buffer, binding) => (binding === 0 ? buffer : (current.get(buffer) ?? buffer)));
    current.delete(op.buffers[0]);
    if (buffers.every((buffer, binding) => buffer === op.buffers[binding])) return op;
    return { ...op, buffers, bindGroup: makers.bindGroup(op.pipeline, buffers) };
  });
}

function countPasses(graph: Graph): number {
  let passes = 0;
  let open = false;
  for (const op of graph.ops) {
    if (op.kind === 'dispatch') {
      if (!open) passes++;
      open = true;
    } else if (!graph.writes.get(op)!.hoisted) {
      open = false;
    }
  }
  return passes;
}

/** Ends tfjs's compute pass and submits what it queued, so that its pending disposals reach the pool. */
function flush(backend: BackendInternals): void {
  backend.endComputePassEncoder();
  if (backend.commandEncoder) backend.submitQueue();
}

/**
 * tfjs keeps a tensor's values on the CPU once they were read (a variable's, by a checkpoint or a sampled grid),
 * since a tensor's data never changes. A replay changes the variables' data in place: their copies must go.
 */
function forgetCpuCopies(backend: BackendInternals, variables: readonly tf.Variable[]): void {
  for (const variable of variables) {
    const data = backend.tensorMap.get(variable.dataId);
    if (data) data.values = null;
  }
}

function isBuffer(resource: unknown): resource is GPUBuffer {
  return typeof resource === 'object' && resource !== null && 'mapState' in resource;
}

/** Each variable's data (which an assign replaces) and buffer. */
function variableBuffers(backend: BackendInternals): Map<tf.Variable, { dataId: object; buffer: GPUBuffer }> {
  const buffers = new Map<tf.Variable, { dataId: object; buffer: GPUBuffer }>();
  for (const variable of Object.values(tf.engine().registeredVariables)) {
    const resource = backend.tensorMap.get(variable.dataId)?.resource;
    if (isBuffer(resource)) buffers.set(variable, { dataId: variable.dataId, buffer: resource });
  }
  return buffers;
}

function bytesOf(data: BufferSource | SharedArrayBuffer, dataOffset: number, size: number | undefined): Uint8Array {
  if (ArrayBuffer.isView(data)) {
    const element = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const length = size ?? data.byteLength / element - dataOffset;
    return new Uint8Array(data.buffer, data.byteOffset + dataOffset * element, length * element).slice();
  }
  return new Uint8Array(data as ArrayBuffer, dataOffset, size ?? (data as ArrayBuffer).byteLength - dataOffset).slice();
}

function align4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}

/** The uniform bytes a volatile write will have `steps` steps after the recorded one. */
function uniformsAhead(op: WriteOp, steps: number, stockMakeUniforms: BackendInternals['makeUniforms']): Uint8Array {
  const recorded = op.uniforms!;
  const programDefined = op.uniformsStepsAhead!(steps);
  return uniformBytes([...recorded.slice(0, recorded.length - programDefined.length), ...programDefined], stockMakeUniforms);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Why step `b` (recorded right after `a`) is not `a` again, or undefined where it is: the same ops in the same
 * order, each reading what the same earlier op wrote (or the same input, variable or constant), with the same
 * bytes written except volatile uniforms, which must be what `a`'s programs said they would be a step later.
 * Which buffers the pool lent each op may differ: that changes where the data goes, not what is computed.
 */
export function differences(a: Recording, b: Recording, stockMakeUniforms: BackendInternals['makeUniforms']): string | undefined {
  if (a.ops.length !== b.ops.length) return `${a.ops.length} then ${b.ops.length} ops`;
  if (!tf.util.arraysEqual(a.inputShape, b.inputShape)) return 'another input';
  const [flowA, flowB] = [dataflow(a), dataflow(b)];
  for (let i = 0; i < a.ops.length; i++) {
    const x = a.ops[i];
    const y = b.ops[i];
    if (x.kind === 'dispatch' && y.kind === 'dispatch') {
      if (x.pipeline !== y.pipeline) return `op ${i}: another pipeline`;
      if (x.workgroups.some((count, axis) => count !== y.workgroups[axis])) return `op ${i}: other workgroup counts`;
      const [readsA, readsB] = [flowA.reads[i], flowB.reads[i]];
      if (readsA.length !== readsB.length || readsA.some((source, binding) => source !== readsB[binding])) return `op ${i}: reads other data`;
    } else if (x.kind === 'write' && y.kind === 'write') {
      if (x.offset !== y.offset || x.bytes.byteLength !== y.bytes.byteLength) return `op ${i}: another write`;
      if (sameBytes(x.bytes, y.bytes)) continue;
      if (!x.uniformsStepsAhead || !y.uniformsStepsAhead) return `op ${i}: other bytes written (${y.source})`;
      if (!sameBytes(uniformsAhead(x, 1, stockMakeUniforms), y.bytes)) return `op ${i}: ${y.source} not what the program said they would be`;
    } else {
      return `op ${i}: a ${x.kind} then a ${y.kind}`;
    }
  }
  if (a.updated.length !== b.updated.length) return 'other variables updated';
  for (let i = 0; i < a.updated.length; i++) {
    const [x, y] = [a.updated[i], b.updated[i]];
    if (x.variable !== y.variable || flowA.writer(x.after) !== flowB.writer(y.after)) return `variable ${x.variable.name} updated otherwise`;
  }
  if (flowA.writer(a.outputBuffer) !== flowB.writer(b.outputBuffer)) return 'another output';
  return undefined;
}

/**
 * Where each dispatch's inputs come from: the op that last wrote the buffer (`op N`), or, for what the step
 * did not write, the input, a variable (by name) or the buffer itself (constants and cached uniforms, the same
 * objects from step to step).
 */
function dataflow(recording: Recording): { reads: string[][]; writer: (buffer: GPUBuffer) => string } {
  const lastWriter = new Map<GPUBuffer, number>();
  const homes = new Map(recording.updated.map((update) => [update.before, update.variable.name]));
  const constants = new Map<GPUBuffer, number>();
  const source = (buffer: GPUBuffer): string => {
    const writer = lastWriter.get(buffer);
    if (writer !== undefined) return `op ${writer}`;
    if (buffer === recording.input) return 'input';
    const home = homes.get(buffer);
    if (home !== undefined) return `variable ${home}`;
    if (!constants.has(buffer)) constants.set(buffer, identity(buffer));
    return `buffer ${constants.get(buffer)}`;
  };
  const reads = recording.ops.map((op, index) => {
    if (op.kind === 'write') {
      lastWriter.set(op.buffer, index);
      return [];
    }
    const sources = op.buffers.slice(1).map(source);
    lastWriter.set(op.buffers[0], index);
    return sources;
  });
  return { reads, writer: (buffer) => source(buffer) };
}

const identities = new WeakMap<GPUBuffer, number>();
let nextIdentity = 0;

/** A number for a buffer object, the same for the same object in every recording. */
function identity(buffer: GPUBuffer): number {
  let id = identities.get(buffer);
  if (id === undefined) identities.set(buffer, (id = nextIdentity++));
  return id;
}

/**
 * The copies that carry out all `moves` at once (each `to` gets what its `from` held before any copy), in an
 * order where no copy overwrites a buffer a later one reads, with a temporary buffer to break each cycle.
 */
export function orderMoves(moves: Move[], temporary: (size: number) => GPUBuffer): Move[] {
  const pending = moves.filter((move) => move.from !== move.to);
  const ordered: Move[] = [];
  while (pending.length > 0) {
    const sources = new Set(pending.map((move) => move.from));
    const ready = pending.findIndex((move) => !sources.has(move.to));
    if (ready >= 0) {
      ordered.push(pending[ready]);
      pending.splice(ready, 1);
      continue;
    }
    // every destination is still to be read: a cycle; park one source and read it from there
    const parked = pending[0].from;
    const spare = temporary(parked.size);
    ordered.push({ from: parked, to: spare });
    for (const move of pending) if (move.from === parked) move.from = spare;
  }
  return ordered;
}

function poolList(lists: Map<string, GPUBuffer[]>, buffer: GPUBuffer): GPUBuffer[] | undefined {
  const list = lists.get(`${buffer.size}_${buffer.usage}`);
  return list?.includes(buffer) ? list : undefined;
}

/** Takes a free buffer out of tfjs's pool as acquireBuffer would (it counts as used; releaseBuffer gives it back). */
function takeFromPool(pool: PoolInternals, buffer: GPUBuffer): void {
  const key = `${buffer.size}_${buffer.usage}`;
  const free = pool.freeBuffers.get(key)!;
  free.splice(free.indexOf(buffer), 1);
  pool.numFreeBuffers--;
  if (!pool.usedBuffers.has(key)) pool.usedBuffers.set(key, []);
  pool.usedBuffers.get(key)!.push(buffer);
  pool.numUsedBuffers++;
  pool.numBytesUsed += buffer.size;
}
