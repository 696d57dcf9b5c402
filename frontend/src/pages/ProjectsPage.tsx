import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';

import { ErrorNotice, InfoNotice, Unavailable } from '../components/Notice';
import { parseTags } from '../lib/format';
import { isMissingRoute, projectsApi } from '../lib/work';

export function ProjectsPage() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const projects = useQuery({ queryKey: ['projects'], queryFn: projectsApi.list });
  const create = useMutation({
    mutationFn: projectsApi.create,
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['projects'] });
      navigate(`/projects/${p.id}`);
    },
  });

  if (projects.isError && isMissingRoute(projects.error)) {
    return (
      <section className="page" aria-labelledby="projects-title">
        <h1 id="projects-title">Projects</h1>
        <Unavailable what="Projects" />
      </section>
    );
  }

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    create.mutate({
      title: String(form.get('title')).trim(),
      description: String(form.get('description')).trim() || null,
      technologies: parseTags(String(form.get('technologies'))),
    });
  }

  return (
    <section className="page" aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <p className="muted">Describe what you are working on; Fuze finds what you saved that helps each task.</p>
      <form className="card stack" onSubmit={submit} aria-label="New project">
        <h2 className="h-small">New project</h2>
        <label>
          Title
          <input name="title" required maxLength={200} placeholder="e.g. Fast search for my notes app" />
        </label>
        <label>
          Description
          <textarea name="description" rows={3} placeholder="What are you building or learning?" />
        </label>
        <label>
          Topics, tools or technologies
          <input name="technologies" placeholder="comma, separated: React, PostgreSQL" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create project
        </button>
        <ErrorNotice error={create.error} />
      </form>
      <ErrorNotice error={projects.error} />
      {projects.isSuccess && projects.data.items.length === 0 ? <InfoNotice>No projects yet.</InfoNotice> : null}
      <ul className="cards" aria-label="Your projects">
        {projects.data?.items.map((p) => (
          <li key={p.id} className="card">
            <Link to={`/projects/${p.id}`} className="row-title">
              {p.title}
            </Link>
            {p.description ? <p className="muted clamp">{p.description}</p> : null}
            <div className="row-meta">
              <span className={`pill pill-${p.status}`}>{p.status}</span>
              {p.task_count !== undefined ? (
                <span>
                  {p.done_task_count ?? 0}/{p.task_count} tasks done
                </span>
              ) : null}
              {p.technologies.map((t) => (
                <span className="tag" key={t}>
                  {t}
                </span>
              ))}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
