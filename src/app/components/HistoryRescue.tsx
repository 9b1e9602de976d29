/**
 * Ways back that need no working Results panel: export the saved history, clear it (with a
 * confirm step), clear the Hub cache when storage is full. Shown in notices (history that
 * cannot be read, a full storage) and in the fallback of a broken Results panel or page.
 */
import { useState } from 'react';
import { downloadText } from '../download';
import { useStudio, type NoticeAction } from '../store';

export function historyFileName(): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `pq-studio-history-${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}.json`;
}

/** Downloads the whole history (saved and unsaved runs) as one JSON file; a failure becomes a notice. */
export function useExportHistory(): () => Promise<void> {
  const exportHistory = useStudio((s) => s.exportHistory);
  const reportError = useStudio((s) => s.reportError);
  return async () => {
    try {
      downloadText(await exportHistory(), historyFileName(), 'application/json');
    } catch (e) {
      reportError('Could not export the history', e instanceof Error ? e.message : String(e));
    }
  };
}

export function HistoryRescue({ actions }: { actions: readonly NoticeAction[] }) {
  const clearHistory = useStudio((s) => s.clearHistory);
  const clearHubCache = useStudio((s) => s.clearHubCache);
  const saveUnsaved = useStudio((s) => s.saveUnsaved);
  const [confirming, setConfirming] = useState(false);
  const onExport = useExportHistory();
  const onClearHub = async () => {
    await clearHubCache();
    await saveUnsaved();
  };

  return (
    <span className="history-rescue" data-testid="history-rescue">
      {actions.includes('export-history') && (
        <button type="button" onClick={() => void onExport()}>
          Export saved history
        </button>
      )}
      {actions.includes('clear-hub-cache') && (
        <button type="button" onClick={() => void onClearHub()}>
          Clear the Hub cache
        </button>
      )}
      {actions.includes('clear-history') &&
        (confirming ? (
          <>
            <button
              type="button"
              className="danger"
              onClick={() => {
                setConfirming(false);
                void clearHistory();
              }}
            >
              Yes, remove every saved run
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep them
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Clear saved history…
          </button>
        ))}
    </span>
  );
}
