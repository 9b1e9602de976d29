/**
 * Experiment history kept in the browser's IndexedDB (database "pq-studio", object store
 * "experiments", keyed by record id), so results survive a reload. Everything read back
 * (stored entries, imported files) is validated with the record schema first; entries
 * that do not pass are skipped and counted, never fatal.
 */
import { parseExperimentRecord, type ExperimentRecord } from '../engine/record';

export const HISTORY_DB = 'pq-studio';
export const HISTORY_STORE = 'experiments';
const DB_VERSION = 1;

export const HISTORY_SCHEMA_ID = 'pq-studio/history';
export const HISTORY_VERSION = 1;

export interface HistoryDocument {
  schema: typeof HISTORY_SCHEMA_ID;
  version: typeof HISTORY_VERSION;
  records: ExperimentRecord[];
}

/** Records that passed validation and how many entries did not. */
export interface HistoryBatch {
  records: ExperimentRecord[];
  skipped: number;
}

/** Thrown when the browser gives no IndexedDB (private mode, blocked storage). */
export class HistoryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryUnavailableError';
  }
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
        dbPromise = null;
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

async function withStore<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
  const db = await openDb();
  return new Promise<T | undefined>((resolve, reject) => {
    const tx = db.transaction(HISTORY_STORE, mode);
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
  for (const entry of entries) {
    let record: ExperimentRecord;
    try {
      record = parseExperimentRecord(entry);
    } catch {
      skipped += 1;
      continue;
    }
    if (seen.has(record.id)) continue;
    seen.add(record.id);
    records.push(record);
  }
  return { records, skipped };
}

/** All stored records, validated, newest first. */
export async function loadAll(): Promise<HistoryBatch> {
  const entries = (await withStore<unknown[]>('readonly', (s) => s.getAll())) ?? [];
  const batch = validateEntries(entries);
  return { records: newestFirst(batch.records), skipped: batch.skipped };
}

export async function save(record: ExperimentRecord): Promise<void> {
  await withStore('readwrite', (s) => s.put(record));
}

export async function saveMany(records: ExperimentRecord[]): Promise<void> {
  if (records.length === 0) return;
  await withStore('readwrite', (s) => {
    for (const r of records) s.put(r);
  });
}

export async function remove(id: string): Promise<void> {
  await withStore('readwrite', (s) => s.delete(id));
}

export async function clear(): Promise<void> {
  await withStore('readwrite', (s) => s.clear());
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
  const batch = validateEntries(entries);
  return { records: newestFirst(batch.records), skipped: batch.skipped };
}

/** Validates a history document and stores its valid records; invalid entries are skipped and counted. */
export async function importJson(text: string): Promise<HistoryBatch> {
  const batch = parseHistoryJson(text);
  await saveMany(batch.records);
  return batch;
}
