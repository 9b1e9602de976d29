/**
 * WebGPU status: the adapter this browser offers and its features, or, when there is none,
 * why and what to do in this browser; and which backend the engine runs on, and why (Auto
 * passes over a software adapter for the CPU backend: see selectBackend).
 */
import { useEffect, useState } from 'react';
import { softwareRenderer } from '../../engine/backend/webgpu/device';
import { engineText } from '../format';
import { useStudio } from '../store';
import { webGpuAdvice } from '../webgpu-advice';

type GpuStatus =
  | { state: 'checking' }
  | { state: 'ok'; adapter: string; features: string[]; software: string | null }
  | { state: 'missing'; why: string; advice: string };

async function probe(): Promise<GpuStatus> {
  const secure = typeof isSecureContext === 'boolean' ? isSecureContext : true;
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { state: 'missing', why: 'This browser does not offer WebGPU (navigator.gpu is missing).', advice: webGpuAdvice(navigator.userAgent, secure) };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { state: 'missing', why: 'The browser has WebGPU but found no usable GPU adapter (it may be blocklisted or disabled).', advice: webGpuAdvice(navigator.userAgent, secure) };
    const info = adapter.info;
    const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter((x) => x && x.length > 0).join(' · ') || 'unnamed adapter';
    const legacy = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
    const software = softwareRenderer({
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? legacy),
    });
    return { state: 'ok', adapter: name, features: [...adapter.features].map(String).sort(), software };
  } catch (e) {
    return { state: 'missing', why: `Asking for a WebGPU adapter failed: ${e instanceof Error ? e.message : String(e)}`, advice: webGpuAdvice(navigator.userAgent, secure) };
  }
}

export function WebGpuBanner() {
  const [status, setStatus] = useState<GpuStatus>({ state: 'checking' });
  const backendStatus = useStudio((s) => s.backendStatus);
  useEffect(() => {
    let live = true;
    void probe().then((s) => live && setStatus(s));
    return () => {
      live = false;
    };
  }, []);
  const engine = engineText(backendStatus);
  if (status.state === 'checking') return <div className="gpu-banner" data-testid="webgpu-banner">Checking WebGPU…</div>;
  if (status.state === 'missing')
    return (
      <div className="gpu-banner gpu-missing" data-testid="webgpu-banner" role="status">
        <strong>WebGPU is not available.</strong> {status.why} {status.advice}{' '}
        <span>The CPU backend still runs everything (slower). {engine}</span>
      </div>
    );
  return (
    <div className="gpu-banner gpu-ok" data-testid="webgpu-banner" role="status">
      <strong>WebGPU</strong> <span data-testid="webgpu-adapter">{status.adapter}</span>
      {status.software ? ` (software renderer: ${status.software})` : ''} · <span data-testid="engine-backend">{engine}</span>{' '}
      <details className="gpu-features">
        <summary>{status.features.length} features</summary>
        <span data-testid="webgpu-features">{status.features.length > 0 ? status.features.join(', ') : 'none beyond the core set'}</span>
      </details>
    </div>
  );
}
