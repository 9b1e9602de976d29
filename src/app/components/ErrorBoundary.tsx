/**
 * One broken part must not take the page with it: React unmounts the whole tree on an
 * error thrown while rendering unless a boundary catches it. Every result card, chart
 * block and panel sits in one of these; a failure shows what failed, the error, and a way
 * on (Remove for a result card, Hide / Try again for a panel), and the rest of the studio
 * keeps working.
 */
import { Component, type ErrorInfo, type ReactNode } from 'react';

export interface ErrorBoundaryProps {
  /** What is inside, for the message: "The result card of Wanda 50% (stories260K)". */
  what: string;
  children: ReactNode;
  /** Result cards: removes the record (from the page and the history). */
  onRemove?: () => void;
  removeLabel?: string;
  /** Extra ways on, e.g. export/clear history when the Results panel itself failed. */
  extra?: ReactNode;
}

interface State {
  error: Error | null;
  hidden: boolean;
}

export class ErrorBoundary extends Component<ErrorBoundaryProps, State> {
  state: State = { error: null, hidden: false };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    // Kept for whoever debugs it; the page shows the message.
    console.error(`${this.props.what} failed to render:`, error, info.componentStack);
  }

  render(): ReactNode {
    const { error, hidden } = this.state;
    if (!error) return this.props.children;
    if (hidden) return null;
    const { what, onRemove, removeLabel, extra } = this.props;
    return (
      <div className="render-error notice notice-error" role="alert" data-testid="render-error">
        <div className="notice-text">
          <strong className="notice-title">{what} could not be shown</strong>
          <span className="notice-message" data-testid="render-error-message">
            {error.name}: {error.message.slice(0, 500)}. The rest of the studio works as usual.
          </span>
          <span className="render-error-actions">
            {onRemove ? (
              <button type="button" className="danger" onClick={onRemove} data-testid="render-error-remove">
                {removeLabel ?? 'Remove'}
              </button>
            ) : (
              <>
                <button type="button" onClick={() => this.setState({ error: null })}>
                  Try again
                </button>
                <button type="button" onClick={() => this.setState({ hidden: true })}>
                  Hide
                </button>
              </>
            )}
            {extra}
          </span>
        </div>
      </div>
    );
  }
}
