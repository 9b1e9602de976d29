import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ErrorBoundary } from './components/ErrorBoundary';
import { HistoryRescue } from './components/HistoryRescue';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    {/* Last resort: whatever fails to render, the saved history can still be exported or cleared. */}
    <ErrorBoundary what="The studio" extra={<HistoryRescue actions={['export-history', 'clear-history']} />}>
      <App />
    </ErrorBoundary>
  </StrictMode>,
);
