import { h } from './dom';

/** Shared by every view, so the run and compare pages smooth alike. */
let current = 0;

/** A slider for the curves' smoothing weight (0: raw only); the raw curve always stays on the chart. */
export function smoothingControl(onChange: (weight: number) => void): HTMLElement {
  const slider = h('input', {
    type: 'range',
    min: 0,
    max: 0.99,
    step: 0.01,
    value: current,
    class: 'smoothing-slider',
    'aria-label': 'Smoothing',
  });
  const shown = h('output', { class: 'smoothing-value' }, current ? current.toFixed(2) : 'off');
  slider.addEventListener('input', () => {
    current = Number(slider.value);
    shown.textContent = current ? current.toFixed(2) : 'off';
    onChange(current);
  });
  return h('label', { class: 'smoothing', title: 'Exponential moving average; the raw curve stays visible' }, 'Smoothing ', slider, shown);
}

export function smoothingWeight(): number {
  return current;
}
