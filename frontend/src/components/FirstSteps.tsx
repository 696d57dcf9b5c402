import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type MouseEvent, useEffect } from 'react';
import { Link } from 'react-router';

import { usersGetMeOptions } from '../client/@tanstack/react-query.gen';
import { clearUnseenItems, useUnseenItems } from '../lib/events';

/** Put the caret in the library's save form (it sits above this panel). */
function focusSaveForm(e: MouseEvent<HTMLAnchorElement>) {
  const input = document.querySelector<HTMLInputElement>('form.save-form input[name=url]');
  if (!input) return;
  e.preventDefault();
  input.scrollIntoView({ block: 'center' });
  input.focus();
}

/** What an empty library shows: four ways to fill it, each a link to where it is done. */
export function FirstSteps() {
  const me = useQuery(usersGetMeOptions());
  const qc = useQueryClient();
  // The library is empty, so there is no place in it to keep: the first items that arrive
  // (an import, the extension, another tab) are shown at once, and this panel gives way to them.
  const unseen = useUnseenItems();
  useEffect(() => {
    if (!unseen) return;
    clearUnseenItems();
    void qc.resetQueries({ predicate: (q) => (q.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' });
  }, [unseen, qc]);
  const hasKey = Boolean(me.data?.has_gemini_key);
  return (
    <section className="card first-steps" aria-labelledby="first-steps-title">
      <h2 id="first-steps-title">Nothing saved yet. Four ways to start:</h2>
      <ol className="plain first-steps-list">
        <li>
          <span className="first-steps-n" aria-hidden="true">1</span>
          <div>
            <a href="#save-url" onClick={focusSaveForm}>
              Save a page
            </a>
            <p className="muted small">Paste its address in the form above. Fuze fetches it, keeps its text and makes it searchable.</p>
          </div>
        </li>
        <li>
          <span className="first-steps-n" aria-hidden="true">2</span>
          <div>
            <Link to="/import">Import your bookmarks</Link>
            <p className="muted small">From your browser, Pocket, Raindrop, Instapaper, Pinboard, Omnivore, Karakeep or Linkwarden.</p>
          </div>
        </li>
        <li>
          <span className="first-steps-n" aria-hidden="true">3</span>
          <div>
            <Link to="/extension">Install the browser extension</Link>
            <p className="muted small">Save the page you are reading with one click or Alt+Shift+S, as you see it.</p>
          </div>
        </li>
        <li className={hasKey ? 'done' : undefined}>
          <span className="first-steps-n" aria-hidden="true">{hasKey ? '✓' : '4'}</span>
          <div>
            <Link to="/settings#gemini-title">{hasKey ? 'Your AI key is set' : 'Add an AI key'}</Link>
            <p className="muted small">
              {hasKey
                ? 'Fuze summarises the pages you save, suggests tags and breaks projects down into tasks.'
                : 'Optional: with a Gemini key of your own, Fuze summarises pages, suggests tags and breaks projects down into tasks.'}
            </p>
          </div>
        </li>
      </ol>
    </section>
  );
}
