import { useEffect, useState } from 'react';
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
      <WebGpuBanner />
      <Notices />
      <SharedPanel />
      <main className="layout">
        <div className="column">
          <ModelPanel />
          <EvaluatePanel />
          <MethodPanel />
          <QuantPanel />
          <L4QPanel />
        </div>
        <div className="column">
          <RunsPanel />
          <ResultsPanel />
          <Explainer />
        </div>
      </main>
      <div className="layout layout-more">
        <div className="column">
          <GenerationPanel />
          <WeightHistogram />
        </div>
        <div className="column">
          <TeachingPanel />
          <ExportPanel />
        </div>
      </div>
    </div>
  );
}
