import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';

import { usersGetMeOptions } from '../client/@tanstack/react-query.gen';
import { BreakdownReview } from '../components/BreakdownReview';
import { ErrorNotice, Unavailable } from '../components/Notice';
import { Recommendations } from '../components/Recommendations';
import { parseTags } from '../lib/format';
import { listLabel, useLists } from '../lib/lists';
import { type ContextType, isMissingRoute, type ProposedTask, projectsApi, type Subtask, type Task } from '../lib/work';

interface Ctx {
  type: ContextType;
  id: string;
  label: string;
}

function InlineEdit({ value, label, onSave }: { value: string; label: string; onSave: (v: string) => void }) {
  const [editing, setEditing] = useState(false);
  if (!editing)
    return (
      <span className="inline-edit">
        <span className="inline-edit-text">{value}</span>
        <button type="button" className="link pencil" onClick={() => setEditing(true)} aria-label={`Rename ${label}`} title="Rename">
          ✎
        </button>
      </span>
    );
  return (
    <form
      className="inline inline-edit"
      onSubmit={(e) => {
        e.preventDefault();
        const v = (e.currentTarget.elements.namedItem('v') as HTMLInputElement).value.trim();
        if (v && v !== value) onSave(v);
        setEditing(false);
      }}
    >
      <input
        name="v"
        defaultValue={value}
        aria-label={label}
        autoFocus
        onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}
        onBlur={(e) => e.currentTarget.form?.requestSubmit()}
      />
    </form>
  );
}

export function ProjectPage() {
  const { id = '' } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const project = useQuery({ queryKey: ['project', id], queryFn: () => projectsApi.get(id) });
  const tasks = useQuery({ queryKey: ['tasks', id], queryFn: () => projectsApi.tasks(id) });
  const me = useQuery(usersGetMeOptions());
  const lists = useLists();
  // Recommend from one list (and its sub-lists) rather than the whole library.
  const [scope, setScope] = useState('');
  const [ctx, setCtx] = useState<Ctx | null>(null);
  // Each answer is a new round of review, with its own ticks and edits.
  const [proposal, setProposal] = useState<{ round: number; tasks: ProposedTask[] } | null>(null);

  const refreshTasks = () => {
    void qc.invalidateQueries({ queryKey: ['tasks', id] });
    void qc.invalidateQueries({ queryKey: ['project', id] });
    void qc.invalidateQueries({ queryKey: ['recommendations'] });
  };
  const run = useMutation({ mutationFn: (fn: () => Promise<unknown>) => fn(), onSettled: refreshTasks });
  const breakdown = useMutation({
    mutationFn: () => projectsApi.breakdown(id),
    onSuccess: (p) => setProposal((prev) => ({ round: (prev?.round ?? 0) + 1, tasks: p.tasks })),
  });

  if (project.isError) {
    if (isMissingRoute(project.error)) return <Unavailable what="Projects" />;
    return <ErrorNotice error={project.error} />;
  }
  if (!project.data) return <p className="muted" role="status">Loading…</p>;
  const p = project.data;
  const list: Task[] = [...(tasks.data?.items ?? [])].sort((a, b) => a.position - b.position);
  const context: Ctx = ctx ?? { type: 'project', id: p.id, label: p.title };

  function addTask(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const title = (form.elements.namedItem('task-title') as HTMLInputElement).value.trim();
    if (!title) return;
    run.mutate(() => projectsApi.createTask(id, { title }));
    form.reset();
  }

  function addSubtask(e: FormEvent<HTMLFormElement>, task: Task) {
    e.preventDefault();
    const form = e.currentTarget;
    const title = (form.elements.namedItem('subtask-title') as HTMLInputElement).value.trim();
    if (!title) return;
    run.mutate(() => projectsApi.createSubtask(task.id, { title }));
    form.reset();
  }

  const move = (t: Task, to: number) => run.mutate(() => projectsApi.updateTask(t.id, { position: to }));
  const moveSub = (s: Subtask, to: number) => run.mutate(() => projectsApi.updateSubtask(s.id, { position: to }));

  return (
    <section className="page project" aria-labelledby="project-title">
      <p>
        <Link to="/projects">← Projects</Link>
      </p>
      <header className="detail-head">
        <h1 id="project-title">
          <InlineEdit value={p.title} label="the project" onSave={(title) => run.mutate(() => projectsApi.update(id, { title }))} />
        </h1>
        <label className="inline">
          <span className="visually-hidden">Project status</span>
          <select value={p.status} onChange={(e) => {
            const status = e.currentTarget.value as typeof p.status;
            run.mutate(() => projectsApi.update(id, { status }));
          }}>
            {['active', 'paused', 'done', 'archived'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </header>
      {p.description ? <p className="lead">{p.description}</p> : null}
      <div className="row-meta">
        {p.technologies.map((t) => (
          <span className="tag" key={t}>
            {t}
          </span>
        ))}
        <button
          type="button"
          className="link small"
          onClick={() => {
            const v = window.prompt('Topics, tools or technologies (comma separated)', p.technologies.join(', '));
            if (v !== null) run.mutate(() => projectsApi.update(id, { technologies: parseTags(v) }));
          }}
        >
          Edit topics, tools or technologies
        </button>
        {p.intent ? <span className="muted small">Intent: {p.intent.goal}{p.intent.summary ? ` — ${p.intent.summary}` : ''}</span> : null}
      </div>
      <ErrorNotice error={run.error || tasks.error} />
      <div className="project-grid">
        <div>
          <div className="section-head">
            <h2>Tasks</h2>
            {me.data?.has_gemini_key ? (
              <button type="button" onClick={() => breakdown.mutate()} disabled={breakdown.isPending}>
                {breakdown.isPending ? 'Asking Gemini…' : 'Break it down with AI'}
              </button>
            ) : (
              <span className="muted small">
                <Link to="/settings">Add a Gemini key</Link> for an AI breakdown
              </span>
            )}
          </div>
          <ErrorNotice error={breakdown.error} />
          {proposal ? (
            <BreakdownReview
              key={proposal.round}
              proposal={proposal.tasks}
              busy={run.isPending}
              onAccept={(kept) =>
                run.mutate(async () => {
                  await projectsApi.acceptBreakdown(id, kept);
                  setProposal(null);
                })
              }
              onDiscard={() => setProposal(null)}
            />
          ) : null}
          <form className="inline add-form" onSubmit={addTask}>
            <label className="grow">
              <span className="visually-hidden">New task</span>
              <input name="task-title" placeholder="Add a task…" maxLength={300} />
            </label>
            <button type="submit">Add task</button>
          </form>
          <ol className="plain tasks" aria-label="Tasks">
            {list.map((t, i) => (
              <li key={t.id} className={`task card${t.status === 'done' ? ' done' : ''}`}>
                <div className="task-head">
                  <input
                    type="checkbox"
                    checked={t.status === 'done'}
                    onChange={(e) => {
                      const status = e.currentTarget.checked ? 'done' : 'todo';
                      run.mutate(() => projectsApi.updateTask(t.id, { status }));
                    }}
                    aria-label={`Done: ${t.title}`}
                  />
                  <InlineEdit value={t.title} label={`task ${t.title}`} onSave={(title) => run.mutate(() => projectsApi.updateTask(t.id, { title }))} />
                  <div className="task-actions">
                    <button type="button" className="small" onClick={() => move(t, i - 1)} disabled={i === 0} aria-label={`Move up: ${t.title}`}>
                      ↑
                    </button>
                    <button type="button" className="small" onClick={() => move(t, i + 1)} disabled={i === list.length - 1} aria-label={`Move down: ${t.title}`}>
                      ↓
                    </button>
                    <button
                      type="button"
                      className={`small${context.type === 'task' && context.id === t.id ? ' on' : ''}`}
                      aria-pressed={context.type === 'task' && context.id === t.id}
                      onClick={() => setCtx({ type: 'task', id: t.id, label: t.title })}
                    >
                      Recommendations
                    </button>
                    <button
                      type="button"
                      className="small danger"
                      onClick={() => window.confirm(`Delete the task “${t.title}”?`) && run.mutate(() => projectsApi.removeTask(t.id))}
                      aria-label={`Delete task ${t.title}`}
                    >
                      ✕
                    </button>
                  </div>
                </div>
                <ul className="plain subtasks" aria-label={`Subtasks of ${t.title}`}>
                  {[...t.subtasks].sort((a, b) => a.position - b.position).map((s, j, subs) => (
                    <li key={s.id} className={s.done ? 'done' : ''}>
                      <input
                        type="checkbox"
                        checked={s.done}
                        onChange={(e) => {
                          const done = e.currentTarget.checked;
                          run.mutate(() => projectsApi.updateSubtask(s.id, { done }));
                        }}
                        aria-label={`Done: ${s.title}`}
                      />
                      <InlineEdit value={s.title} label={`subtask ${s.title}`} onSave={(title) => run.mutate(() => projectsApi.updateSubtask(s.id, { title }))} />
                      <span className="task-actions">
                        <button type="button" className="small" onClick={() => moveSub(s, j - 1)} disabled={j === 0} aria-label={`Move up: ${s.title}`}>
                          ↑
                        </button>
                        <button type="button" className="small" onClick={() => moveSub(s, j + 1)} disabled={j === subs.length - 1} aria-label={`Move down: ${s.title}`}>
                          ↓
                        </button>
                        <button
                          type="button"
                          className={`small${context.type === 'subtask' && context.id === s.id ? ' on' : ''}`}
                          aria-pressed={context.type === 'subtask' && context.id === s.id}
                          onClick={() => setCtx({ type: 'subtask', id: s.id, label: s.title })}
                        >
                          Recs
                        </button>
                        <button type="button" className="small danger" onClick={() => run.mutate(() => projectsApi.removeSubtask(s.id))} aria-label={`Delete subtask ${s.title}`}>
                          ✕
                        </button>
                      </span>
                    </li>
                  ))}
                </ul>
                <form className="inline add-form sub" onSubmit={(e) => addSubtask(e, t)}>
                  <label className="grow">
                    <span className="visually-hidden">New subtask of {t.title}</span>
                    <input name="subtask-title" placeholder="Add a subtask…" maxLength={500} />
                  </label>
                  <button type="submit" className="small">
                    Add
                  </button>
                </form>
              </li>
            ))}
          </ol>
          <p>
            <button
              type="button"
              className="danger"
              onClick={() =>
                window.confirm(`Delete the project “${p.title}” with its tasks?`) &&
                run.mutate(async () => {
                  await projectsApi.remove(id);
                  await qc.invalidateQueries({ queryKey: ['projects'] });
                  navigate('/projects');
                })
              }
            >
              Delete project
            </button>
          </p>
        </div>
        <aside className="recs-panel" aria-labelledby="recs-title">
          <div className="section-head">
            <h2 id="recs-title">
              Recommended <span className="muted small">for {context.type === 'project' ? 'the project' : `${context.type} “${context.label}”`}</span>
            </h2>
            {ctx ? (
              <button type="button" className="link small" onClick={() => setCtx(null)}>
                Back to the project
              </button>
            ) : null}
          </div>
          {lists.data?.items.length ? (
            <label className="inline small rec-scope">
              From
              <select value={scope} onChange={(e) => setScope(e.currentTarget.value)} aria-label="Recommend from">
                <option value="">all your items</option>
                {lists.data.items.map((l) => (
                  <option key={l.id} value={l.id}>
                    the list {listLabel(l)}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <Recommendations
            key={`${context.type}:${context.id}:${scope}`}
            type={context.type}
            id={context.id}
            label={context.label}
            list={scope || undefined}
          />
        </aside>
      </div>
    </section>
  );
}
