import { useEffect } from 'react';
import { EvaluatePanel } from './components/EvaluatePanel';
import { Explainer } from './components/Explainer';
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
        <p className="tagline">Measure how well a small language model predicts text. Everything runs in this browser tab.</p>
      </header>
      <Notices />
      <main className="layout">
        <div className="column">
          <ModelPanel />
          <EvaluatePanel />
        </div>
        <div className="column">
          <ResultsPanel />
          <Explainer />
        </div>
      </main>
    </div>
  );
}
