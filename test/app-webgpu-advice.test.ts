/** The WebGPU banner's advice names the fix for each browser. */
import { describe, expect, it } from 'vitest';
import { webGpuAdvice } from '../src/app/webgpu-advice';

const UA = {
  chromeLinux: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  chromeWin: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
};

describe('WebGPU advice', () => {
  it('names the fix for each browser', () => {
    expect(webGpuAdvice(UA.chromeLinux, true)).toMatch(/--enable-unsafe-webgpu/);
    expect(webGpuAdvice(UA.chromeWin, true)).toMatch(/version 113.*chrome:\/\/gpu/);
    expect(webGpuAdvice(UA.edge, true)).toMatch(/Chrome\/Edge/);
    expect(webGpuAdvice(UA.firefox, true)).toMatch(/dom\.webgpu\.enabled/);
    expect(webGpuAdvice(UA.safari, true)).toMatch(/Safari 26.*Feature Flags/);
    expect(webGpuAdvice('curl/8', true)).toMatch(/current Chrome/);
  });

  it('an insecure page comes first: no browser offers WebGPU there', () => {
    expect(webGpuAdvice(UA.chromeWin, false)).toMatch(/https:\/\/.*localhost/);
  });
});
