/**
 * Endpoints from ../shared/API.md whose routes are still being built (projects, tasks,
 * recommendations, feedback, imports, exports). They go through the generated client's
 * request function (same session, refresh and errors) with the shapes API.md documents; once
 * their routes are in app.openapi(), `npm run gen` generates typed functions to replace these.
 * A server without a route answers 404 `not_found`: `isMissingRoute` tells the pages to say
 * the feature is not available yet.
 */
import { client } from '../client/client.gen';
import type { BookmarkOut } from '../client/types.gen';
import { ApiError } from './api';

export interface Project {
  id: string;
  title: string;
  description: string | null;
  technologies: string[];
  status: 'active' | 'paused' | 'done' | 'archived';
  intent?: { goal: string; summary?: string | null; skills?: string[]; concepts?: string[]; technologies?: string[]; source: string } | null;
  intent_status?: string;
  intent_error?: string | null;
  task_count?: number;
  done_task_count?: number;
  created_at: string;
  updated_at: string;
}
export type TaskStatus = 'todo' | 'in_progress' | 'done';
export interface Subtask {
  id: string;
  task_id: string;
  title: string;
  done: boolean;
  position: number;
}
export interface Task {
  id: string;
  project_id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  position: number;
  subtasks: Subtask[];
}
export interface ProposedTask {
  title: string;
  description: string | null;
  subtasks: { title: string }[];
}
export interface Recommendation {
  bookmark: BookmarkOut;
  score: number;
  reasons: string[];
}
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
export type ContextType = 'project' | 'task' | 'subtask';
export type Signal = 'relevant' | 'irrelevant' | 'opened' | 'saved_to_project';

export interface ImportStatus {
  id: string;
  filename: string | null;
  format: string;
  format_name: string;
  status: 'queued' | 'parsing' | 'processing' | 'done' | 'failed';
  total: number;
  parsed: number;
  imported: number;
  duplicates: number;
  invalid: number;
  pending: number;
  ready: number;
  failed: number;
  processed: number;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  finished_at: string | null;
  failed_entries?: { items: ImportEntry[]; next_cursor: string | null };
}
export interface ImportEntry {
  position: number;
  line: number | null;
  url: string | null;
  title: string | null;
  outcome: string;
  reason_code: string | null;
  reason: string | null;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

async function call<T>(method: Method, url: string, body?: unknown, query?: Record<string, unknown>): Promise<T> {
  const { data } = await client.request<T, unknown, true>({
    method,
    url,
    body,
    query,
    throwOnError: true,
    // FormData sets its own multipart Content-Type (with the boundary).
    headers: body instanceof FormData ? { 'Content-Type': null } : undefined,
    ...(body instanceof FormData ? { bodySerializer: null } : {}),
  });
  return data as T;
}

/** A 404 that means "this server has no such route" (not "no such project"). */
export function isMissingRoute(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    ((error.status === 404 && error.message === 'There is nothing at this path.') || error.status === 405)
  );
}

const enc = encodeURIComponent;

export const projectsApi = {
  list: () => call<Page<Project>>('GET', '/api/projects', undefined, { limit: 200 }),
  get: (id: string) => call<Project>('GET', `/api/projects/${enc(id)}`),
  create: (p: { title: string; description?: string | null; technologies?: string[] }) => call<Project>('POST', '/api/projects', p),
  update: (id: string, p: Partial<Pick<Project, 'title' | 'description' | 'technologies' | 'status'>>) => call<Project>('PATCH', `/api/projects/${enc(id)}`, p),
  remove: (id: string) => call<void>('DELETE', `/api/projects/${enc(id)}`),
  breakdown: (id: string) =>
    call<{ tasks: ProposedTask[]; model: string }>('POST', `/api/projects/${enc(id)}/breakdown`, {}),
  acceptBreakdown: (id: string, tasks: ProposedTask[]) =>
    call<{ items: Task[] }>('POST', `/api/projects/${enc(id)}/breakdown/accept`, { tasks }),
  tasks: (id: string) => call<Page<Task>>('GET', `/api/projects/${enc(id)}/tasks`, undefined, { limit: 200 }),
  createTask: (id: string, t: { title: string; description?: string | null; subtasks?: { title: string }[] }) => call<Task>('POST', `/api/projects/${enc(id)}/tasks`, t),
  updateTask: (id: string, t: Partial<Pick<Task, 'title' | 'description' | 'status' | 'position'>>) => call<Task>('PATCH', `/api/tasks/${enc(id)}`, t),
  removeTask: (id: string) => call<void>('DELETE', `/api/tasks/${enc(id)}`),
  subtasks: (taskId: string) => call<Page<Subtask>>('GET', `/api/tasks/${enc(taskId)}/subtasks`, undefined, { limit: 200 }),
  createSubtask: (taskId: string, s: Pick<Subtask, 'title'>) => call<Subtask>('POST', `/api/tasks/${enc(taskId)}/subtasks`, s),
  updateSubtask: (id: string, s: Partial<Pick<Subtask, 'title' | 'done' | 'position'>>) => call<Subtask>('PATCH', `/api/subtasks/${enc(id)}`, s),
  removeSubtask: (id: string) => call<void>('DELETE', `/api/subtasks/${enc(id)}`),
  recommendations: (type: ContextType, id: string, limit = 10) =>
    call<Page<Recommendation>>('GET', `/api/${type === 'project' ? 'projects' : type === 'task' ? 'tasks' : 'subtasks'}/${enc(id)}/recommendations`, undefined, { limit }),
  feedback: (bookmarkId: string, signal: Signal, context?: { type: ContextType; id: string }) =>
    call<unknown>('POST', '/api/feedback', { bookmark_id: bookmarkId, signal, context }),
};

export const importsApi = {
  start: (file: File) => {
    const form = new FormData();
    form.append('file', file, file.name);
    return call<{ id: string }>('POST', '/api/imports', form);
  },
  get: (id: string) => call<ImportStatus>('GET', `/api/imports/${enc(id)}`),
  list: () => call<Page<ImportStatus>>('GET', '/api/imports'),
};

export type ExportFormat = 'html' | 'json' | 'csv';

/** The export as a Blob (the request needs the session's token, so no plain link). */
export async function fetchExport(format: ExportFormat): Promise<Blob> {
  const { data } = await client.request<Blob, unknown, true>({
    method: 'GET',
    url: '/api/exports',
    query: { format },
    parseAs: 'blob',
    throwOnError: true,
  });
  return data as Blob;
}
