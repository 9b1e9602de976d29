/**
 * Making a share link: the newest run, or every run under the newest protocol (a sweep),
 * as a URL whose hash holds the settings and the results. The page URL before the hash
 * is kept, so a link made on a sub-path opens there.
 */
import { useState } from 'react';
import type { ExperimentRecord } from '../../engine/record';
import { MAX_SHARE_RUNS, encodeShareHash, shareDocument } from '../../engine/share-link';
import { protocolKey } from '../charts/data';
import { formatInt, methodTitle } from '../format';
import { useStudio } from '../store';

type What = 'newest' | 'protocol';

export function ShareBox({ results }: { results: ExperimentRecord[] }) {
  const reportError = useStudio((s) => s.reportError);
  const [what, setWhat] = useState<What>('protocol');
  const [url, setUrl] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  if (results.length === 0) return null;
  const newest = results[0]!;
  const key = protocolKey(newest);
  const sameProtocol = results.filter((r) => protocolKey(r) === key).slice(0, MAX_SHARE_RUNS);

  const make = async () => {
    // Oldest first, so that "re-run here" repeats a sweep in the order it was run.
    const records = what === 'newest' ? [newest] : [...sameProtocol].reverse();
    const title = what === 'newest' ? `${methodTitle(newest.method)} on ${newest.model.id}` : `${records.length} run${records.length === 1 ? '' : 's'} on ${newest.model.id}`;
    try {
      const link = location.href.split('#')[0] + encodeShareHash(shareDocument(title, records));
      setUrl(link);
      setCopied(false);
      try {
        await navigator.clipboard.writeText(link);
        setCopied(true);
      } catch {
        // Clipboard access can be refused (permissions, insecure page); the link is shown to copy by hand.
      }
    } catch (e) {
      reportError('Could not make a share link', e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="share-box" data-testid="share-box">
      <div className="field field-inline">
        <label htmlFor="share-what">Share</label>
        <select id="share-what" value={what} onChange={(e) => setWhat(e.target.value as What)}>
          <option value="protocol">All {sameProtocol.length} runs of the newest protocol</option>
          <option value="newest">The newest run</option>
        </select>
        <button type="button" onClick={() => void make()}>
          Make share link
        </button>
      </div>
      {url && (
        <div className="share-url">
          <label htmlFor="share-url">Link {copied ? '(copied)' : '(select and copy)'}</label>
          <input id="share-url" readOnly value={url} onFocus={(e) => e.currentTarget.select()} data-testid="share-url" />
          <span className="muted" data-testid="share-length">
            {formatInt(url.length)} characters
          </span>
        </div>
      )}
    </div>
  );
}
