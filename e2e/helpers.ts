/** What the end-to-end specs share: opening the studio and running an evaluation. */
import { expect, type Page } from '@playwright/test';

/** Model load (fetch + parse + tokenizer) in a browser worker; slow machines need a while. */
export const LOAD_TIMEOUT = 120_000;
/** A couple of windows on the software adapter, plus tokenizing the whole bundled text. */
export const EVAL_TIMEOUT = 180_000;

/** Opens the studio and waits for the bundled model; returns the page errors seen so far. */
export async function openStudio(page: Page): Promise<string[]> {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  return pageErrors;
}

/**
 * Chooses a backend in the model panel's Backend menu and waits until the worker runs on it.
 * Specs about WebGPU choose it: Auto passes a software adapter (SwiftShader here) over for
 * the CPU (WebAssembly SIMD) backend.
 */
export async function chooseBackend(page: Page, backend: 'webgpu' | 'wasm' | 'cpu'): Promise<void> {
  const panel = page.getByTestId('model-panel');
  await panel.getByLabel('Backend').selectOption(backend);
  await expect(panel.getByTestId('model-backend')).toContainText(new RegExp(`^${backend} — `), { timeout: LOAD_TIMEOUT });
}

export async function evaluateWindows(page: Page, windows: string): Promise<void> {
  await page.getByLabel('Windows', { exact: true }).fill(windows);
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
}

export function parsePpl(text: string | null): number {
  return Number((text ?? '').trim());
}
