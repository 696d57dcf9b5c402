/**
 * Projects, tasks, subtasks, recommendations, feedback, imports and exports through the
 * generated client (src/client): thin helpers that unwrap `data` and throw ApiError, so the
 * pages can hand them to TanStack Query. A server that lacks a route answers 404 "There is
 * nothing at this path." (or 405): `isMissingRoute` lets a page say the feature is not
 * available there rather than fail.
 */
import {
  exportsExportBookmarks,
  importsCreateImport,
  importsGetImport,
  importsListImports,
  projectsAcceptBreakdown,
  projectsCreateProject,
  projectsCreateSubtask,
  projectsCreateTask,
  projectsDeleteProject,
  projectsDeleteSubtask,
  projectsDeleteTask,
  projectsGetProject,
  projectsListProjects,
  projectsListTasks,
  projectsProposeBreakdown,
  projectsUpdateProject,
  projectsUpdateSubtask,
  projectsUpdateTask,
  recommendationsGiveFeedback,
  recommendationsProjectRecommendations,
  recommendationsSubtaskRecommendations,
  recommendationsTaskRecommendations,
} from '../client/sdk.gen';
import type {
  ImportDetail,
  ImportOut,
  ProjectCreate,
  ProjectOut,
  ProjectUpdate,
  ProposedTaskOut,
  Recommendation,
  SubtaskOut,
  SubtaskUpdate,
  TaskOut,
  TaskUpdate,
} from '../client/types.gen';
import { ApiError } from './api';

export type Project = ProjectOut;
export type Task = TaskOut & { subtasks: SubtaskOut[] };
export type Subtask = SubtaskOut;
export type ProposedTask = ProposedTaskOut;
export type { Recommendation };
export type ImportStatus = ImportOut & Partial<Pick<ImportDetail, 'failed_entries'>>;
export type ContextType = 'project' | 'task' | 'subtask';
export type Signal = 'relevant' | 'irrelevant' | 'opened' | 'saved_to_project';

export function isMissingRoute(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    ((error.status === 404 && error.message === 'There is nothing at this path.') || error.status === 405)
  );
}

const T = { throwOnError: true } as const;

export const projectsApi = {
  list: async () => (await projectsListProjects({ query: { limit: 100 }, ...T })).data,
  get: async (id: string) => (await projectsGetProject({ path: { project_id: id }, ...T })).data,
  create: async (body: ProjectCreate) => (await projectsCreateProject({ body, ...T })).data,
  update: async (id: string, body: ProjectUpdate) => (await projectsUpdateProject({ path: { project_id: id }, body, ...T })).data,
  remove: async (id: string) => {
    await projectsDeleteProject({ path: { project_id: id }, ...T });
  },
  breakdown: async (id: string) => (await projectsProposeBreakdown({ path: { project_id: id }, body: {}, ...T })).data,
  acceptBreakdown: async (id: string, tasks: ProposedTask[]) =>
    (
      await projectsAcceptBreakdown({
        path: { project_id: id },
        body: { tasks: tasks.map((t) => ({ title: t.title, description: t.description, subtasks: t.subtasks.map((s) => ({ title: s.title })) })) },
        ...T,
      })
    ).data,
  tasks: async (id: string) => {
    const page = (await projectsListTasks({ path: { project_id: id }, query: { limit: 200 }, ...T })).data;
    return { ...page, items: page.items.map((t) => ({ ...t, subtasks: t.subtasks ?? [] })) as Task[] };
  },
  createTask: async (id: string, body: { title: string; description?: string | null }) =>
    (await projectsCreateTask({ path: { project_id: id }, body, ...T })).data,
  updateTask: async (id: string, body: TaskUpdate) => (await projectsUpdateTask({ path: { task_id: id }, body, ...T })).data,
  removeTask: async (id: string) => {
    await projectsDeleteTask({ path: { task_id: id }, ...T });
  },
  createSubtask: async (taskId: string, body: { title: string }) =>
    (await projectsCreateSubtask({ path: { task_id: taskId }, body, ...T })).data,
  updateSubtask: async (id: string, body: SubtaskUpdate) => (await projectsUpdateSubtask({ path: { subtask_id: id }, body, ...T })).data,
  removeSubtask: async (id: string) => {
    await projectsDeleteSubtask({ path: { subtask_id: id }, ...T });
  },
  /** With `list`, only the items in that list and its sub-lists. */
  recommendations: async (type: ContextType, id: string, limit = 10, list?: string) => {
    const query = { limit, ...(list ? { list, sublists: true } : {}) };
    if (type === 'project') return (await recommendationsProjectRecommendations({ path: { project_id: id }, query, ...T })).data;
    if (type === 'task') return (await recommendationsTaskRecommendations({ path: { task_id: id }, query, ...T })).data;
    return (await recommendationsSubtaskRecommendations({ path: { subtask_id: id }, query, ...T })).data;
  },
  feedback: async (bookmarkId: string, signal: Signal, context?: { type: ContextType; id: string }) =>
    (await recommendationsGiveFeedback({ body: { bookmark_id: bookmarkId, signal, context }, ...T })).data,
};

export const importsApi = {
  start: async (file: File) => (await importsCreateImport({ body: { file }, ...T })).data,
  get: async (id: string): Promise<ImportStatus> => (await importsGetImport({ path: { import_id: id }, ...T })).data,
  list: async () => (await importsListImports({ query: { limit: 10 }, ...T })).data,
};

export type ExportFormat = 'html' | 'json' | 'csv' | 'zip';

/** The export as a Blob (the request needs the session's token, so not a plain link). */
export async function fetchExport(format: ExportFormat, only?: { list: string; sublists?: boolean }): Promise<Blob> {
  const { data } = await exportsExportBookmarks({ query: { format, ...only }, parseAs: 'blob', ...T });
  return data as Blob;
}
