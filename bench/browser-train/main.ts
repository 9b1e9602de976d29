/** Starts the training benchmark worker with the page's query options and shows its JSON result. */
const out = document.getElementById('result')!;
const worker = new Worker(new URL('./train.worker.ts', import.meta.url), { type: 'module' });
worker.onmessage = (e: MessageEvent) => {
  out.textContent = JSON.stringify(e.data, null, 2);
  out.dataset.done = '1';
};
worker.onerror = (e) => {
  out.textContent = JSON.stringify({ error: e.message });
  out.dataset.done = '1';
};
worker.postMessage(Object.fromEntries(new URLSearchParams(location.search)));
