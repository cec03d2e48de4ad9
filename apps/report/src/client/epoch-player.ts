import { h } from './dom';

const playIntervalMs = 700;

/** A range slider, a typed epoch number and a play button over the epochs that have a sample grid. */
export class EpochPlayer {
  readonly element: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly numberInput: HTMLInputElement;
  private readonly playButton: HTMLButtonElement;
  private readonly total: HTMLSpanElement;
  private epochs: number[] = [];
  private current = 0;
  private playTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly onChange: (epoch: number) => void) {
    this.slider = h('input', { type: 'range', min: 0, max: 0, step: 1, 'aria-label': 'Epoch', class: 'epoch-slider' });
    this.numberInput = h('input', { type: 'number', min: 0, max: 0, step: 1, 'aria-label': 'Epoch number', class: 'epoch-number' });
    this.playButton = h('button', { type: 'button', class: 'play' }, 'Play');
    this.total = h('span', { class: 'muted' });
    this.slider.addEventListener('input', () => this.show(Number(this.slider.value)));
    this.numberInput.addEventListener('change', () => this.show(Number(this.numberInput.value)));
    this.playButton.addEventListener('click', () => (this.playTimer ? this.pause() : this.play()));
    this.element = h(
      'div',
      { class: 'epoch-player' },
      this.playButton,
      this.slider,
      h('label', {}, 'Epoch ', this.numberInput),
      this.total,
    );
  }

  get epoch(): number {
    return this.current;
  }

  /** New epochs arrived (or the first ones): a viewer who was at the last epoch follows the new last. */
  setEpochs(epochs: number[]): void {
    const last = this.epochs.at(-1);
    const followLatest = this.current === 0 || this.current === last;
    this.epochs = [...epochs].sort((a, b) => a - b);
    const first = this.epochs[0] ?? 0;
    const newLast = this.epochs.at(-1) ?? 0;
    for (const input of [this.slider, this.numberInput]) {
      input.min = String(first);
      input.max = String(newLast);
      input.disabled = this.epochs.length === 0;
    }
    this.playButton.disabled = this.epochs.length < 2;
    this.total.textContent = this.epochs.length ? `of ${newLast}` : 'no sample grids yet';
    if (this.epochs.length && (followLatest || this.current > newLast)) this.show(newLast);
  }

  show(epoch: number): void {
    if (!this.epochs.length || !Number.isFinite(epoch)) return;
    const clamped = Math.min(Math.max(Math.round(epoch), this.epochs[0]), this.epochs.at(-1)!);
    this.current = clamped;
    this.slider.value = String(clamped);
    this.numberInput.value = String(clamped);
    this.onChange(clamped);
  }

  play(): void {
    if (this.epochs.length < 2) return;
    if (this.current >= this.epochs.at(-1)!) this.show(this.epochs[0]);
    this.playButton.textContent = 'Pause';
    this.playTimer = setInterval(() => {
      const next = this.epochs.find((e) => e > this.current);
      if (next === undefined) this.pause();
      else this.show(next);
    }, playIntervalMs);
  }

  pause(): void {
    clearInterval(this.playTimer);
    this.playTimer = undefined;
    this.playButton.textContent = 'Play';
  }

  destroy(): void {
    this.pause();
  }
}
