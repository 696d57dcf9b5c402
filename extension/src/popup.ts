/**
 * The toolbar popup: save the current tab with a title, tags and notes; it says at once
 * whether the page is already saved, then follows its processing status. "Read later" (the
 * default) or "Archive" says where a new bookmark goes; for a saved page it shows, and Update
 * changes, whether it is archived.
 *
 * The tab is the active tab of the current window, or `?tabId=<id>` when the popup page is
 * opened in a tab of its own (the end-to-end tests do that: a headless browser has no toolbar).
 */
import type { BookmarkOut, BookmarkUpdate } from '@fuze/client';

import { Fuze, isWebUrl, SignedOut, Unreachable } from './api';
import { ext } from './ext';
import type { Request, Response } from './messages';
import { Outbox, type FlushResult, type SaveResult } from './outbox';

const storage = ext.storage.local;
const fuze = new Fuze({ storage });
const outbox = new Outbox({ fuze, storage });

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('save-form');
const state = $('state');
const titleInput = $<HTMLInputElement>('title');
const tagsInput = $<HTMLInputElement>('tags');
const notesInput = $<HTMLTextAreaElement>('notes');
const laterChoice = $<HTMLInputElement>('shelf-later');
const archiveChoice = $<HTMLInputElement>('shelf-archive');
const saveButton = $<HTMLButtonElement>('save');

let tabId: number | undefined;
let pageTitle = '';
let existing: BookmarkOut | null = null;
let polling: ReturnType<typeof setTimeout> | undefined;
/** The user's tags in use, most used first. */
let suggestions: string[] = [];

const STATUS_TEXT: Record<BookmarkOut['status'], string> = {
  pending: 'waiting to be processed',
  fetching: 'fetching the page…',
  extracting: 'reading the page…',
  embedding: 'indexing…',
  ready: 'ready',
  failed: 'processing failed',
};

function send(request: Request): Promise<Response> {
  return ext.runtime.sendMessage(request) as Promise<Response>;
}

function showError(message: string | null): void {
  const el = $('error');
  el.hidden = !message;
  el.textContent = message ?? '';
}

function parseTags(text: string): string[] {
  const seen = new Map<string, string>();
  for (const part of text.split(',')) {
    const tag = part.trim().replace(/\s+/g, ' ');
    if (tag && !seen.has(tag.toLowerCase())) seen.set(tag.toLowerCase(), tag);
  }
  return [...seen.values()];
}

function ago(iso: string): string {
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString();
}

let serverUrl: string | null = null;

function showBookmark(bookmark: BookmarkOut, lead: string): void {
  existing = bookmark;
  const open = $<HTMLAnchorElement>('open-item');
  open.href = `${serverUrl}/items/${bookmark.id}`;
  open.hidden = false;
  state.dataset.id = bookmark.id;
  state.dataset.status = bookmark.status;
  state.className = `state ${bookmark.status}`;
  let text = `${lead}${bookmark.archived_at ? ' · archived' : ''} · ${STATUS_TEXT[bookmark.status]}`;
  if (bookmark.status === 'ready' && bookmark.word_count) {
    text += ` · ${bookmark.word_count.toLocaleString()} words`;
  }
  if (bookmark.status === 'failed' && bookmark.error_message) text += `: ${bookmark.error_message}`;
  state.textContent = text;
  saveButton.textContent = 'Update';
  if (bookmark.status !== 'ready' && bookmark.status !== 'failed') follow(bookmark.id, lead);
}

/** Poll the bookmark until it is processed (the popup lives only while it is open). */
function follow(id: string, lead: string): void {
  clearTimeout(polling);
  polling = setTimeout(async () => {
    try {
      showBookmark(await fuze.get(id), lead);
    } catch {
      follow(id, lead);
    }
  }, 1000);
}

async function showQueue(): Promise<void> {
  const pending = (await outbox.pending()).length;
  const failures = await outbox.takeFailures();
  $('queue').hidden = pending === 0;
  $('queue-text').textContent = `${pending} save${pending === 1 ? '' : 's'} waiting for the server.`;
  if (failures.length) {
    showError(failures.map((f) => `Not saved: ${f.url}: ${f.message}`).join('\n'));
  }
}

function showSuggestions(): void {
  const box = $('tag-suggestions');
  box.replaceChildren();
  const chosen = new Set(parseTags(tagsInput.value).map((t) => t.toLowerCase()));
  for (const tag of suggestions.filter((t) => !chosen.has(t.toLowerCase())).slice(0, 12)) {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.textContent = tag;
    chip.addEventListener('click', () => {
      tagsInput.value = [...parseTags(tagsInput.value), tag].join(', ');
      showSuggestions();
    });
    box.append(chip);
  }
}

function showSetup(text: string): void {
  $('setup').hidden = false;
  $('setup-text').textContent = text;
  form.hidden = true;
}

async function targetTab(): Promise<chrome.tabs.Tab | undefined> {
  const given = Number(new URLSearchParams(location.search).get('tabId'));
  if (given) return ext.tabs.get(given);
  return (await ext.tabs.query({ active: true, currentWindow: true }))[0];
}

async function lookUp(url: string): Promise<void> {
  try {
    const found = await fuze.findByUrl(url);
    if (found) {
      titleInput.value = found.title ?? titleInput.value;
      pageTitle = titleInput.value;
      tagsInput.value = found.tags.join(', ');
      notesInput.value = found.notes ?? '';
      archiveChoice.checked = !!found.archived_at;
      laterChoice.checked = !archiveChoice.checked;
      showSuggestions();
      showBookmark(found, `Saved ${ago(found.saved_at)}`);
    } else {
      state.textContent = 'Not saved yet';
      state.dataset.status = 'unsaved';
    }
  } catch (err) {
    if (err instanceof SignedOut) return showSetup(err.message);
    state.dataset.status = 'unknown';
    state.textContent =
      err instanceof Unreachable
        ? 'The server is not reachable; a save will wait and be sent later.'
        : `Could not check this page: ${(err as Error).message}`;
  }
}

async function onSubmit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  showError(null);
  saveButton.disabled = true;
  const title = titleInput.value.trim();
  const tags = parseTags(tagsInput.value);
  const notes = notesInput.value;
  const archived = archiveChoice.checked;
  try {
    if (existing) {
      const patch: BookmarkUpdate = { title: title || null, notes, tags };
      // Moved only when the choice changed (archiving again would keep its first date anyway).
      if (archived !== !!existing.archived_at) patch.archived = archived;
      const updated = await fuze.update(existing.id, patch);
      showBookmark(updated, 'Updated');
      return;
    }
    const response = await send({
      type: 'save-tab',
      tabId: tabId as number,
      // Only a title the user typed; otherwise the server takes the page's own.
      title: title && title !== pageTitle ? title : undefined,
      notes: notes || undefined,
      tags,
      archived: archived || undefined,
    });
    if (!response.ok) return showError(response.error.message);
    const result = response.result as SaveResult;
    if (result.kind === 'saved') {
      showBookmark(result.bookmark, result.created ? 'Saved' : 'Already saved');
    } else {
      state.dataset.status = 'queued';
      state.className = 'state';
      state.textContent = 'Queued: the server is not reachable; it will be sent when it is.';
    }
    await showQueue();
  } catch (err) {
    showError((err as Error).message);
  } finally {
    saveButton.disabled = false;
  }
}

async function main(): Promise<void> {
  $('settings').addEventListener('click', (e) => {
    e.preventDefault();
    void ext.runtime.openOptionsPage();
  });
  $('open-options').addEventListener('click', () => void ext.runtime.openOptionsPage());
  $('retry').addEventListener('click', async () => {
    const response = await send({ type: 'flush' });
    if (response.ok) {
      const { remaining } = response.result as FlushResult;
      if (remaining) showError('The server is still not reachable.');
    }
    await showQueue();
  });
  form.addEventListener('submit', (e) => void onSubmit(e));

  serverUrl = await fuze.serverUrl();
  const session = await fuze.session();
  if (serverUrl) {
    ($('library') as HTMLAnchorElement).href = `${serverUrl}/`;
    ($('projects') as HTMLAnchorElement).href = `${serverUrl}/projects`;
  }
  await showQueue();
  if (!serverUrl || !session) {
    return showSetup(
      serverUrl ? 'Your Fuze session has ended; sign in again.' : 'Connect the extension to your Fuze server to save pages.',
    );
  }

  const tab = await targetTab().catch(() => undefined);
  tabId = tab?.id;
  form.hidden = false;
  if (!isWebUrl(tab?.url)) {
    state.textContent = 'Fuze saves web pages (http:// or https://) only.';
    saveButton.disabled = true;
    return;
  }
  $('page-url').textContent = tab.url;
  pageTitle = tab.title ?? '';
  titleInput.value = pageTitle;
  fuze
    .recentTags()
    .then((tags) => {
      suggestions = tags;
      showSuggestions();
    })
    .catch(() => undefined);
  tagsInput.addEventListener('input', showSuggestions);
  await lookUp(tab.url);
}

void main();
