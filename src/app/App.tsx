import { useEffect } from 'react';
import { EvaluatePanel } from './components/EvaluatePanel';
import { Explainer } from './components/Explainer';
import { MethodPanel } from './components/MethodPanel';
import { ModelPanel } from './components/ModelPanel';
import { Notices } from './components/Notices';
import { ResultsPanel } from './components/ResultsPanel';
import { useStudio } from './store';

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
      </header>
      <Notices />
      <main className="layout">
        <div className="column">
          <ModelPanel />
          <EvaluatePanel />
          <MethodPanel />
        </div>
        <div className="column">
          <ResultsPanel />
          <Explainer />
        </div>
      </main>
    </div>
  );
}
