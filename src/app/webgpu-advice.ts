/**
 * What to tell someone whose browser gives the page no WebGPU adapter, by browser (from its
 * user-agent string). Kept apart from the banner so that it is testable in Node.
 */

/** What to do in this browser to get WebGPU, from its user-agent string. */
export function webGpuAdvice(ua: string, secure: boolean): string {
  if (!secure) return 'WebGPU needs a secure page: open the studio over https:// or from http://localhost / 127.0.0.1.';
  if (/Firefox\//.test(ua)) return 'Firefox: WebGPU is on by default from Firefox 141 on Windows; on macOS and Linux use Firefox Nightly or set dom.webgpu.enabled in about:config.';
  if (/Edg\//.test(ua) || /Chrome\/|Chromium\//.test(ua)) {
    if (/Linux/.test(ua) && !/Android/.test(ua)) return 'Chrome/Chromium on Linux: start it with --enable-unsafe-webgpu (and --enable-features=Vulkan) or enable chrome://flags/#enable-unsafe-webgpu; check chrome://gpu.';
    return 'Chrome/Edge: WebGPU is on from version 113 on Windows, macOS and ChromeOS (Android 121). Update the browser; if it is current, check chrome://gpu — the GPU may be blocklisted.';
  }
  if (/Safari\//.test(ua)) return 'Safari: WebGPU is on from Safari 26 (macOS 26, iOS 26); on older versions enable it under Develop › Feature Flags › WebGPU.';
  return 'Use a current Chrome, Edge, or Safari 26; Firefox 141 on Windows.';
}
