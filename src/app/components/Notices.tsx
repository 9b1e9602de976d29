import { useStudio } from '../store';

/** Errors and cancellations: visible until dismissed; they never touch the results. */
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
          </div>
          <button type="button" className="notice-close" onClick={() => dismiss(n.id)} aria-label={`Dismiss: ${n.title}`}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
