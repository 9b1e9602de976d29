/**
 * Experiment history kept in the browser's IndexedDB (database "pq-studio", object store
 * "experiments", keyed by record id), so results survive a reload. Everything read back
 * (stored entries, imported files) is validated with the record schema first; entries
 * that do not pass are skipped and counted, never fatal. Everything written is validated
 * with the same schema first (recordForSaving), so what is saved can be read back.
 *
 * Several tabs of the studio share the database: every save, remove and clear is announced
 * on a BroadcastChannel, so the other tabs update their results instead of showing runs
 * that are gone (or missing runs that were added).
 */
import { experimentRecordSchema, recordForSaving, recordProblem, type ExperimentRecord } from '../engine/record';

export const HISTORY_DB = 'pq-studio';
export const HISTORY_STORE = 'experiments';
const DB_VERSION = 1;

export const HISTORY_SCHEMA_ID = 'pq-studio/history';
export const HISTORY_VERSION = 1;
/** Largest history file the studio reads (checked from File.size before reading); thousands of runs fit. */
export const MAX_HISTORY_FILE_BYTES = 16 * 1024 * 1024;
/** Most entries one history file may hold. */
export const MAX_HISTORY_ENTRIES = 10_000;
/** The channel on which tabs of the studio announce history changes. */
export const HISTORY_CHANNEL = 'pq-studio-history';

export interface HistoryDocument {
  schema: typeof HISTORY_SCHEMA_ID;
  version: typeof HISTORY_VERSION;
  records: ExperimentRecord[];
}

/** Records that passed validation and how many entries did not. */
export interface HistoryBatch {
  records: ExperimentRecord[];
  skipped: number;
  /** Why the first skipped entry is not a record ("calibration.samples: …"), for the notice. */
  firstProblem?: string;
}

/** Thrown when the browser gives no IndexedDB (private mode, blocked storage). */
export class HistoryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryUnavailableError';
  }
}

/** Thrown when a history file is over MAX_HISTORY_FILE_BYTES or MAX_HISTORY_ENTRIES. */
export class HistoryTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryTooLargeError';
  }
}

/** The browser refused to store more (the origin's quota, shared with the Hub model cache). */
export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError' || (e instanceof DOMException && e.code === 22);
}

let dbPromise: Promise<IDBDatabase> | null = null;

function openDb(): Promise<IDBDatabase> {
  if (dbPromise) return dbPromise;
  const p = new Promise<IDBDatabase>((resolve, reject) => {
    let factory: IDBFactory | undefined;
    try {
      factory = typeof indexedDB === 'undefined' ? undefined : indexedDB;
    } catch {
      factory = undefined;
    }
    if (!factory) {
      reject(new HistoryUnavailableError('This browser gives the page no IndexedDB.'));
      return;
    }
    let req: IDBOpenDBRequest;
    try {
      req = factory.open(HISTORY_DB, DB_VERSION);
    } catch (e) {
      reject(new HistoryUnavailableError(e instanceof Error ? e.message : String(e)));
      return;
    }
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(HISTORY_STORE)) db.createObjectStore(HISTORY_STORE, { keyPath: 'id' });
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab upgrading the database: let it, and reopen on the next call.
      db.onversionchange = () => {
        db.close();
        if (dbPromise === p) dbPromise = null;
      };
      // The browser closed the connection (storage cleared, disk error): reopen on the next call.
      db.onclose = () => {
        if (dbPromise === p) dbPromise = null;
      };
      resolve(db);
    };
    req.onerror = () => reject(new HistoryUnavailableError(req.error?.message ?? 'IndexedDB could not be opened.'));
    req.onblocked = () => reject(new HistoryUnavailableError('IndexedDB is blocked by another tab of the studio.'));
  });
  dbPromise = p;
  p.catch(() => {
    if (dbPromise === p) dbPromise = null;
  });
  return p;
}

function requestResult<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

/** A transaction on the open connection; a connection that was closed under us is reopened once. */
async function transaction(mode: IDBTransactionMode): Promise<IDBTransaction> {
  const db = await openDb();
  try {
    return db.transaction(HISTORY_STORE, mode);
  } catch (e) {
    // InvalidStateError: the connection is closing or closed (close() without a 'close' event).
    if ((e as { name?: unknown }).name !== 'InvalidStateError') throw e;
    if (dbPromise) dbPromise = null;
    return (await openDb()).transaction(HISTORY_STORE, mode);
  }
}

async function withStore<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
  const tx = await transaction(mode);
  return new Promise<T | undefined>((resolve, reject) => {
    const req = fn(tx.objectStore(HISTORY_STORE));
    let value: T | undefined;
    if (req) requestResult(req).then((v) => (value = v), () => undefined);
    tx.oncomplete = () => resolve(value);
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

function createdTime(r: ExperimentRecord): number {
  const t = Date.parse(r.createdAt);
  return Number.isNaN(t) ? 0 : t;
}

/** Newest first (by createdAt), ties broken by id so the order is stable. */
export function newestFirst(records: ExperimentRecord[]): ExperimentRecord[] {
  return [...records].sort((a, b) => createdTime(b) - createdTime(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Validates entries one by one; invalid ones are counted, duplicates (same id) keep the first. */
export function validateEntries(entries: unknown[]): HistoryBatch {
  const seen = new Set<string>();
  const records: ExperimentRecord[] = [];
  let skipped = 0;
  let firstProblem: string | undefined;
  for (const entry of entries) {
    const parsed = experimentRecordSchema.safeParse(entry);
    if (!parsed.success) {
      skipped += 1;
      firstProblem ??= recordProblem(parsed.error).slice(0, 300);
      continue;
    }
    const record = parsed.data;
    if (seen.has(record.id)) continue;
    seen.add(record.id);
    records.push(record);
  }
  return { records, skipped, ...(firstProblem !== undefined ? { firstProblem } : {}) };
}

/** All stored records, validated, newest first. */
export async function loadAll(): Promise<HistoryBatch> {
  const entries = (await withStore<unknown[]>('readonly', (s) => s.getAll())) ?? [];
  const batch = validateEntries(entries);
  return { ...batch, records: newestFirst(batch.records) };
}

/** The stored records with these ids (validated; missing or invalid ones left out). */
export async function getMany(ids: string[]): Promise<ExperimentRecord[]> {
  if (ids.length === 0) return [];
  const entries: unknown[] = [];
  await withStore('readonly', (s) => {
    for (const id of ids) s.get(id).onsuccess = (e) => entries.push((e.target as IDBRequest).result);
  });
  return validateEntries(entries.filter((x) => x !== undefined)).records;
}

/** Which of these ids are stored already. */
export async function existingIds(ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const keys = new Set(((await withStore<IDBValidKey[]>('readonly', (s) => s.getAllKeys())) ?? []).map(String));
  return ids.filter((id) => keys.has(id));
}

/**
 * Saves a record after recordForSaving (strings cut to the schema's maxima, then the
 * schema): throws InvalidRecordError for a record that could not be read back, and the
 * browser's QuotaExceededError when storage is full (see isQuotaError).
 */
export async function save(record: ExperimentRecord): Promise<void> {
  const fitted = recordForSaving(record);
  await withStore('readwrite', (s) => s.put(fitted));
  announce({ type: 'saved', ids: [fitted.id] });
}

export async function saveMany(records: ExperimentRecord[]): Promise<void> {
  if (records.length === 0) return;
  const fitted = records.map(recordForSaving);
  await withStore('readwrite', (s) => {
    for (const r of fitted) s.put(r);
  });
  announce({ type: 'saved', ids: fitted.map((r) => r.id) });
}

export async function remove(id: string): Promise<void> {
  await withStore('readwrite', (s) => s.delete(id));
  announce({ type: 'removed', ids: [id] });
}

export async function clear(): Promise<void> {
  await withStore('readwrite', (s) => s.clear());
  announce({ type: 'cleared' });
}

// --- other tabs ---

/** What a tab announces after changing the stored history. */
export type HistoryChange = { type: 'saved'; ids: string[] } | { type: 'removed'; ids: string[] } | { type: 'cleared' };

let channel: BroadcastChannel | null | undefined;
function historyChannel(): BroadcastChannel | null {
  if (channel === undefined) channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(HISTORY_CHANNEL);
  return channel;
}

function announce(change: HistoryChange): void {
  try {
    historyChannel()?.postMessage(change);
  } catch {
    // A closed channel (page unloading): the other tabs read the database on their next load.
  }
}

function isHistoryChange(x: unknown): x is HistoryChange {
  const c = x as { type?: unknown; ids?: unknown } | null;
  if (!c || typeof c !== 'object') return false;
  if (c.type === 'cleared') return true;
  return (c.type === 'saved' || c.type === 'removed') && Array.isArray(c.ids) && c.ids.length <= MAX_HISTORY_ENTRIES && c.ids.every((id) => typeof id === 'string');
}

/** Calls `listener` for every change another tab announces (a channel never echoes its own posts). Returns an unsubscribe. */
export function onHistoryChange(listener: (change: HistoryChange) => void): () => void {
  const ch = historyChannel();
  if (!ch) return () => undefined;
  const handler = (e: MessageEvent) => {
    if (isHistoryChange(e.data)) listener(e.data);
  };
  ch.addEventListener('message', handler);
  return () => ch.removeEventListener('message', handler);
}

// --- storage ---

/**
 * Asks the browser to keep this origin's storage (navigator.storage.persist): without it
 * the history may be evicted under storage pressure, e.g. by the multi-GB Hub cache that
 * shares the quota. Resolves to the browser's answer, or null where there is no API.
 */
export async function requestPersistence(): Promise<boolean | null> {
  const storage = typeof navigator === 'undefined' ? undefined : (navigator as { storage?: Partial<StorageManager> }).storage;
  if (!storage?.persist) return null;
  try {
    if (storage.persisted && (await storage.persisted())) return true;
    return await storage.persist();
  } catch {
    return null;
  }
}

/** Test hook: closes the open connection as the browser may, without telling this module. */
export async function closeConnectionForTests(): Promise<void> {
  const p = dbPromise;
  if (p) (await p).close();
}

/** One JSON document holding these records. */
export function historyJson(records: ExperimentRecord[]): string {
  const doc: HistoryDocument = { schema: HISTORY_SCHEMA_ID, version: HISTORY_VERSION, records };
  return JSON.stringify(doc, null, 2);
}

/** All stored (valid) records as one JSON document. */
export async function exportJson(): Promise<string> {
  return historyJson((await loadAll()).records);
}

/**
 * Reads a history document (or a bare array of records, or one record) without storing
 * anything. Throws when the text is not JSON or not a history document at all.
 */
export function parseHistoryJson(text: string): HistoryBatch {
  // A string longer than the file cap did not come from a file the cap let through.
  if (text.length > MAX_HISTORY_FILE_BYTES) throw new HistoryTooLargeError(`The history text is ${text.length} characters, over the ${MAX_HISTORY_FILE_BYTES / 1024 / 1024} MiB the studio reads.`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`Not a JSON file: ${e instanceof Error ? e.message : String(e)}`);
  }
  let entries: unknown[];
  if (Array.isArray(data)) entries = data;
  else if (data && typeof data === 'object' && (data as { schema?: unknown }).schema === HISTORY_SCHEMA_ID) {
    const doc = data as { version?: unknown; records?: unknown };
    if (doc.version !== HISTORY_VERSION) throw new Error(`Unsupported history version ${JSON.stringify(doc.version)} (expected ${HISTORY_VERSION}).`);
    if (!Array.isArray(doc.records)) throw new Error('The history document has no "records" list.');
    entries = doc.records;
  } else if (data && typeof data === 'object' && 'schema' in data && 'id' in data) entries = [data];
  else throw new Error(`Not a studio history file (expected {"schema": "${HISTORY_SCHEMA_ID}", ...}).`);
  if (entries.length > MAX_HISTORY_ENTRIES) throw new HistoryTooLargeError(`The file holds ${entries.length} entries; the studio imports at most ${MAX_HISTORY_ENTRIES} at once.`);
  const batch = validateEntries(entries);
  return { ...batch, records: newestFirst(batch.records) };
}

/** Why a history file is refused before it is read (File.size over the cap), or null. */
export function historyFileProblem(file: { name: string; size: number }): string | null {
  if (file.size <= MAX_HISTORY_FILE_BYTES) return null;
  return `${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB; the studio imports history files up to ${MAX_HISTORY_FILE_BYTES / 1024 / 1024} MiB. Split it or remove runs first.`;
}

/** Validates a history document and stores its valid records; invalid entries are skipped and counted. */
export async function importJson(text: string): Promise<HistoryBatch> {
  const batch = parseHistoryJson(text);
  await saveMany(batch.records);
  return batch;
}
