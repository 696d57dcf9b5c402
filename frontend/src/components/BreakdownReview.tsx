import { useState } from 'react';

import { countOf } from '../lib/plural';
import type { ProposedTask } from '../lib/work';

interface Draft {
  title: string;
  description: string | null;
  keep: boolean;
  subtasks: { title: string; keep: boolean }[];
}

const draft = (tasks: ProposedTask[]): Draft[] =>
  tasks.map((t) => ({ title: t.title, description: t.description, keep: true, subtasks: t.subtasks.map((s) => ({ title: s.title, keep: true })) }));

/** What is sent: the ticked tasks with their ticked subtasks, titles as edited; blank subtasks are left out. */
export function keptTasks(drafts: Draft[]): ProposedTask[] {
  return drafts
    .filter((t) => t.keep)
    .map((t) => ({
      title: t.title.trim(),
      description: t.description,
      subtasks: t.subtasks.filter((s) => s.keep && s.title.trim()).map((s) => ({ title: s.title.trim() })),
    }));
}

/**
 * Gemini's proposed breakdown of a project, to review before anything is saved: every task
 * with its subtasks, each title editable, each task and subtask ticked to keep or unticked to drop.
 */
export function BreakdownReview({
  proposal,
  busy,
  onAccept,
  onDiscard,
}: {
  proposal: ProposedTask[];
  busy: boolean;
  onAccept: (tasks: ProposedTask[]) => void;
  onDiscard: () => void;
}) {
  const [drafts, setDrafts] = useState(() => draft(proposal));
  const kept = keptTasks(drafts);
  const untitled = kept.some((t) => !t.title);
  const subtasks = kept.reduce((n, t) => n + t.subtasks.length, 0);

  const setTask = (i: number, change: Partial<Draft>) => setDrafts((d) => d.map((t, k) => (k === i ? { ...t, ...change } : t)));
  const setSub = (i: number, j: number, change: Partial<Draft['subtasks'][number]>) =>
    setDrafts((d) => d.map((t, k) => (k === i ? { ...t, subtasks: t.subtasks.map((s, m) => (m === j ? { ...s, ...change } : s)) } : t)));

  return (
    <section className="card stack breakdown-review" aria-label="Proposed tasks">
      <div>
        <h3 className="h-small">Proposed by Gemini</h3>
        <p className="muted small">Nothing is saved yet. Untick what you do not want and edit the titles, then add the rest.</p>
      </div>
      <ol className="plain breakdown-tasks">
        {drafts.map((t, i) => (
          <li key={i} className={t.keep ? undefined : 'dropped'}>
            <div className="breakdown-row">
              <input type="checkbox" checked={t.keep} onChange={(e) => setTask(i, { keep: e.currentTarget.checked })} aria-label={`Keep task ${i + 1}`} />
              <input
                value={t.title}
                onChange={(e) => setTask(i, { title: e.currentTarget.value })}
                aria-label={`Task ${i + 1} title`}
                maxLength={300}
                disabled={!t.keep}
                required
              />
            </div>
            {t.description ? <p className="muted small breakdown-description">{t.description}</p> : null}
            {t.subtasks.length ? (
              <ul className="plain breakdown-subtasks" aria-label={`Proposed subtasks of task ${i + 1}`}>
                {t.subtasks.map((s, j) => (
                  <li key={j} className={s.keep && t.keep ? undefined : 'dropped'}>
                    <div className="breakdown-row">
                      <input
                        type="checkbox"
                        checked={s.keep && t.keep}
                        disabled={!t.keep}
                        onChange={(e) => setSub(i, j, { keep: e.currentTarget.checked })}
                        aria-label={`Keep subtask ${i + 1}.${j + 1}`}
                      />
                      <input
                        value={s.title}
                        onChange={(e) => setSub(i, j, { title: e.currentTarget.value })}
                        aria-label={`Subtask ${i + 1}.${j + 1} title`}
                        maxLength={500}
                        disabled={!t.keep || !s.keep}
                      />
                    </div>
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ol>
      <p className="muted small" aria-live="polite">
        {untitled
          ? 'Give each task you keep a title.'
          : kept.length
            ? `${countOf(kept.length, 'task')} with ${countOf(subtasks, 'subtask')} will be added.`
            : 'Nothing is ticked.'}
      </p>
      <div className="actions">
        <button type="button" className="primary" disabled={busy || !kept.length || untitled} onClick={() => onAccept(kept)}>
          {busy ? 'Adding…' : 'Add these tasks'}
        </button>
        <button type="button" onClick={onDiscard} disabled={busy}>
          Discard
        </button>
      </div>
    </section>
  );
}
