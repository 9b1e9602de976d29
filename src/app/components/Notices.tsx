import { useStudio } from '../store';
import { HistoryRescue } from './HistoryRescue';

/** Errors and cancellations: visible until dismissed; they never touch the results (some offer a way back: export, clear). */
export function Notices() {
  const notices = useStudio((s) => s.notices);
  const dismiss = useStudio((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <div className="notices">
      {notices.map((n) => (
        <div key={n.id} role="alert" className={`notice notice-${n.kind}`}>
          <div className="notice-text">
            <strong className="notice-title">{n.title}</strong>
            <span className="notice-message">{n.message}</span>
            {n.actions && n.actions.length > 0 && <HistoryRescue actions={n.actions} />}
          </div>
          <button type="button" className="notice-close" onClick={() => dismiss(n.id)} aria-label={`Dismiss: ${n.title}`}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
