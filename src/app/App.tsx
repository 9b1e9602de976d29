import { useEffect, useState, type ReactNode } from 'react';
import { EvaluatePanel } from './components/EvaluatePanel';
import { Explainer } from './components/Explainer';
import { ExportPanel } from './components/ExportPanel';
import { GenerationPanel } from './components/GenerationPanel';
import { TeachingPanel } from './components/TeachingPanel';
import { WeightHistogram } from './components/WeightHistogram';
import { MethodPanel } from './components/MethodPanel';
import { QuantPanel } from './components/QuantPanel';
import { L4QPanel } from './components/L4QPanel';
import { ModelPanel } from './components/ModelPanel';
import { Notices } from './components/Notices';
import { ResultsPanel } from './components/ResultsPanel';
import { RunsPanel } from './components/RunsPanel';
import { SharedPanel } from './components/SharedPanel';
import { WebGpuBanner } from './components/WebGpuBanner';
import { ErrorBoundary } from './components/ErrorBoundary';
import { HistoryRescue } from './components/HistoryRescue';
import { applyTheme, savedTheme, type ThemeChoice } from './theme';
import { useStudio } from './store';

const THEME_NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };

function ThemeToggle() {
  const [theme, setTheme] = useState<ThemeChoice>(savedTheme);
  useEffect(() => applyTheme(theme), [theme]);
  return (
    <button type="button" className="theme-toggle" onClick={() => setTheme(THEME_NEXT[theme])} aria-label={`Theme: ${theme}. Switch to ${THEME_NEXT[theme]}`} data-testid="theme-toggle">
      Theme: {theme === 'system' ? 'system' : theme}
    </button>
  );
}

/** A panel in its own error boundary: a failure in it leaves the rest of the page working. */
function Guard({ what, children }: { what: string; children: ReactNode }) {
  return <ErrorBoundary what={what}>{children}</ErrorBoundary>;
}

export function App() {
  useEffect(() => {
    // Idempotent: starts the worker and loads the bundled model once.
    useStudio.getState().init();
  }, []);

  return (
    <div className="app">
      <header className="app-header">
        <h1>Prune &amp; Quantize Studio</h1>
        <p className="tagline">Prune a language model and measure what it costs in perplexity. Everything runs in this browser tab.</p>
        <ThemeToggle />
      </header>
      <Guard what="The WebGPU notice">
        <WebGpuBanner />
      </Guard>
      <Notices />
      <Guard what="The shared experiment">
        <SharedPanel />
      </Guard>
      <main className="layout">
        <div className="column">
          <Guard what="The Model panel">
            <ModelPanel />
          </Guard>
          <Guard what="The Data & evaluate panel">
            <EvaluatePanel />
          </Guard>
          <Guard what="The Method panel">
            <MethodPanel />
          </Guard>
          <Guard what="The RTN panel">
            <QuantPanel />
          </Guard>
          <Guard what="The L4Q panel">
            <L4QPanel />
          </Guard>
        </div>
        <div className="column">
          <Guard what="The Runs panel">
            <RunsPanel />
          </Guard>
          {/* A broken Results panel still leaves the history reachable. */}
          <ErrorBoundary what="The Results panel" extra={<HistoryRescue actions={['export-history', 'clear-history']} />}>
            <ResultsPanel />
          </ErrorBoundary>
          <Explainer />
        </div>
      </main>
      <div className="layout layout-more">
        <div className="column">
          <Guard what="The generation panel">
            <GenerationPanel />
          </Guard>
          <Guard what="The weight histogram">
            <WeightHistogram />
          </Guard>
        </div>
        <div className="column">
          <Guard what="The teaching panel">
            <TeachingPanel />
          </Guard>
          <Guard what="The Export panel">
            <ExportPanel />
          </Guard>
        </div>
      </div>
    </div>
  );
}
