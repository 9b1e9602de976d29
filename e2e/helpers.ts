/** What the end-to-end specs share: opening the studio, running an evaluation, the test hooks. */
import { expect, type Page } from '@playwright/test';
import type { JobPhase, TestHoldState } from '../src/worker/protocol';

/** Model load (fetch + parse + tokenizer) in a browser worker; slow machines need a while. */
export const LOAD_TIMEOUT = 120_000;
/** A couple of windows on the software adapter, plus tokenizing the whole bundled text. */
export const EVAL_TIMEOUT = 180_000;

/**
 * Opens the studio and waits for the bundled model; returns the page errors seen so far.
 * `testHooks`: the page is opened with `?testhooks=1` (holdAt and the other hooks below).
 */
export async function openStudio(page: Page, opts: { testHooks?: boolean } = {}): Promise<string[]> {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(opts.testHooks ? '/?testhooks=1' : '/');
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

/** window.__studioTestHooks of a page opened with `?testhooks=1` (src/app/store.ts exposeTestHooks). */
interface StudioTestHooks {
  holdAt(phase: JobPhase, done?: number): Promise<TestHoldState>;
  holdState(): Promise<TestHoldState>;
  release(): Promise<TestHoldState>;
}

const holdHook = <K extends keyof StudioTestHooks>(page: Page, name: K, args: Parameters<StudioTestHooks[K]> | [] = []) =>
  page.evaluate(([n, a]) => (window as unknown as { __studioTestHooks: Record<string, (...x: unknown[]) => Promise<TestHoldState>> }).__studioTestHooks[n]!(...a), [name, args] as const);

/**
 * Arms a hold in the engine worker: the next job whose progress reaches `phase` with at least
 * `done` units (windows, steps) done waits there until `releaseHold` or its cancel. Arm it
 * before starting the job; then `waitForHold` and act on a job that is certainly running.
 */
export function holdAt(page: Page, phase: JobPhase, done = 0): Promise<TestHoldState> {
  return holdHook(page, 'holdAt', [phase, done]);
}

/** Waits until a job reached the armed hold and waits there; returns where it is held. */
export async function waitForHold(page: Page): Promise<NonNullable<TestHoldState['held']>> {
  let held: TestHoldState['held'] = null;
  await expect
    .poll(async () => (held = (await holdHook(page, 'holdState')).held), { message: 'a job reached the armed hold', timeout: EVAL_TIMEOUT })
    .not.toBeNull();
  return held!;
}

/** Lets the held job go on (and drops a hold no job reached). */
export function releaseHold(page: Page): Promise<TestHoldState> {
  return holdHook(page, 'release');
}

/** L4Q jobs waiting at their pause gate now (paused and nothing computing). */
export async function parkedJobs(page: Page): Promise<string[]> {
  return (await holdHook(page, 'holdState')).parked;
}

/**
 * Ids of the records in the page's saved history (IndexedDB). A result card shows before its
 * record is written, so a test that reloads waits for this first. No database yet: none
 * (the open that would create it is aborted, leaving its creation to the studio).
 */
export function savedRecordIds(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open('pq-studio');
        let absent = false;
        open.onupgradeneeded = () => {
          absent = true;
          open.transaction?.abort();
        };
        open.onerror = () => (absent ? resolve([]) : reject(open.error));
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains('experiments')) {
            db.close();
            resolve([]);
            return;
          }
          const req = db.transaction('experiments', 'readonly').objectStore('experiments').getAllKeys();
          req.onsuccess = () => {
            db.close();
            resolve((req.result as IDBValidKey[]).map(String).sort());
          };
          req.onerror = () => reject(req.error);
        };
      }),
  );
}

/** Writes one raw entry into the studio's IndexedDB store (the database exists once the page has run). */
export async function putRawEntry(page: Page, entry: unknown) {
  await page.evaluate(
    (value) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('pq-studio');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction('experiments', 'readwrite');
          tx.objectStore('experiments').put(value);
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    entry,
  );
}
