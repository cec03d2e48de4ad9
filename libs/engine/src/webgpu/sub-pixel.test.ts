import { subPixelKernelsRegistered } from '@facegan/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCpuKernelFixes } from '../cpu-kernels';
import { SUB_PIXEL_CASES, upsampleConvErrorsAgainstCpu, type UpsampleConvCase } from '../test-fixtures';
import { initWebGpu } from './index';
import { webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe.skipIf(!webGpu.available)(`sub-pixel upsample + conv on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    registerCpuKernelFixes(); // the reference's ResizeNearestNeighborGrad (stock cpu's is wrong for batch > 1)
    await initWebGpu();
  });

  it('runs the fused path on webgpu', () => {
    expect(subPixelKernelsRegistered('webgpu')).toBe(true);
  });

  // float32 sums of up to 9·ci terms in another order (taps pre-summed in the phase filter)
  it.each<UpsampleConvCase>(SUB_PIXEL_CASES)('matches upsampling + conv on cpu: output and gradients ($batch×$size, $inChannels→$outChannels, scale $scale)', async (c) => {
    const errors = await upsampleConvErrorsAgainstCpu('webgpu', c);
    expect(errors).toHaveLength(4);
    errors.forEach((error, i) => expect(error, `output ${i}`).toBeLessThanOrEqual(2e-6));
  });
});
