/**
 * The service worker: every save goes through here (the popup asks by message), so a save
 * outlives the popup, and the queue, its retries and the badge have one owner.
 */
import { ApiError, Fuze, isWebUrl, SignedOut, Unreachable } from './api';
import { captureTab, fitHtml } from './capture';
import { ext } from './ext';
import type { Request, Response, SaveTabRequest } from './messages';
import { Outbox, type SaveResult } from './outbox';
import { KEYS } from './storage';

const storage = ext.storage.local;
const fuze = new Fuze({ storage });
const outbox = new Outbox({ fuze, storage });

export const MENU_LINK = 'fuze-save-link';
export const MENU_PAGE = 'fuze-save-page';
export const COMMAND_SAVE = 'save-page';
export const RETRY_ALARM = 'fuze-retry';

const COLORS = { pending: '#b45309', ok: '#15803d', error: '#b91c1c' };

/** Save a tab: its rendered page is captured when the extension may run there; otherwise
 * (or when it is too large to send) the server fetches the address itself. */
async function saveTab(
  tabId: number,
  extra: Pick<SaveTabRequest, 'title' | 'notes' | 'tags' | 'archived'> = {},
): Promise<SaveResult> {
  const captured = await captureTab(tabId);
  const tab = captured ? null : await ext.tabs.get(tabId).catch(() => null);
  const url = captured?.url ?? tab?.url;
  if (!isWebUrl(url)) {
    throw new ApiError(0, 'not_a_web_page', 'Fuze saves web pages (http:// or https://) only.');
  }
  const result = await outbox.save({
    url,
    title: extra.title || undefined,
    notes: extra.notes || undefined,
    tags: extra.tags,
    archived: extra.archived || undefined,
    html: fitHtml(captured?.html),
  });
  afterSave(result);
  return result;
}

async function saveLink(url: string, title?: string): Promise<SaveResult> {
  if (!isWebUrl(url)) {
    throw new ApiError(0, 'not_a_web_page', 'Fuze saves web pages (http:// or https://) only.');
  }
  const result = await outbox.save({ url, title: title || undefined });
  afterSave(result);
  return result;
}

function afterSave(result: SaveResult): void {
  // The server answered: whatever waited in the queue can go now.
  if (result.kind === 'saved') void flush();
  void refreshBadge();
}

async function flush(force = false) {
  const result = await outbox.flush({ force });
  await refreshBadge();
  return result;
}

/** A short-lived mark on the badge ("✓" saved, "!" failed) that a count does not overwrite. */
let flash: { text: string; color: string; title?: string; until: number } | null = null;

async function refreshBadge(): Promise<void> {
  const pending = (await outbox.pending()).length;
  const shown = flash && flash.until > Date.now() ? flash : null;
  await ext.action.setBadgeBackgroundColor({ color: shown?.color ?? COLORS.pending });
  await ext.action.setBadgeText({ text: shown?.text ?? (pending ? String(pending) : '') });
  await ext.action.setTitle({
    title:
      shown?.title ??
      (pending ? `Fuze: ${pending} save${pending === 1 ? '' : 's'} waiting for the server` : 'Save to Fuze'),
  });
  const alarm = await ext.alarms.get(RETRY_ALARM);
  if (pending && !alarm) await ext.alarms.create(RETRY_ALARM, { periodInMinutes: 1 });
  if (!pending && alarm) await ext.alarms.clear(RETRY_ALARM);
}

function showFlash(text: string, color: string, ms: number, title?: string): Promise<void> {
  flash = { text, color, title, until: Date.now() + ms };
  setTimeout(() => void refreshBadge(), ms + 50);
  return refreshBadge();
}

/** Menus and the shortcut have no popup to answer in: the badge says how it went. */
async function quick(save: () => Promise<SaveResult>): Promise<SaveResult | { error: string }> {
  try {
    const result = await save();
    if (result.kind === 'saved') await showFlash('✓', COLORS.ok, 3000);
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await showFlash('!', COLORS.error, 8000, `Fuze: ${message}`);
    return { error: message };
  }
}

function onMenuClick(info: chrome.contextMenus.OnClickData, tab?: chrome.tabs.Tab) {
  if (info.menuItemId === MENU_LINK && info.linkUrl) {
    // Firefox passes the link's text; Chrome does not (the server finds the page's title).
    const text = (info as { linkText?: string }).linkText;
    return quick(() => saveLink(info.linkUrl as string, text));
  }
  if (info.menuItemId === MENU_PAGE && tab?.id !== undefined) {
    return quick(() => saveTab(tab.id as number));
  }
  return Promise.resolve(null);
}

async function onCommand(command: string, tab?: chrome.tabs.Tab) {
  if (command !== COMMAND_SAVE) return null;
  const target = tab ?? (await ext.tabs.query({ active: true, currentWindow: true }))[0];
  if (target?.id === undefined) return null;
  return quick(() => saveTab(target.id as number));
}

function onAlarm(alarm: chrome.alarms.Alarm) {
  return alarm.name === RETRY_ALARM ? flush() : Promise.resolve(null);
}

function errorResponse(err: unknown): Response {
  const error = {
    name: err instanceof Error ? err.name : 'Error',
    message: err instanceof Error ? err.message : String(err),
    status: err instanceof ApiError ? err.status : undefined,
  };
  if (!(err instanceof ApiError || err instanceof SignedOut || err instanceof Unreachable)) {
    console.error(err);
  }
  return { ok: false, error };
}

async function handle(request: Request): Promise<Response> {
  try {
    switch (request.type) {
      case 'save-tab':
        return { ok: true, result: await saveTab(request.tabId, request) };
      case 'flush':
        return { ok: true, result: await flush(true) };
    }
  } catch (err) {
    return errorResponse(err);
  }
}

function createMenus(): void {
  ext.contextMenus.removeAll(() => {
    ext.contextMenus.create({ id: MENU_LINK, title: 'Save link to Fuze', contexts: ['link'] });
    ext.contextMenus.create({ id: MENU_PAGE, title: 'Save page to Fuze', contexts: ['page'] });
  });
}

ext.runtime.onInstalled.addListener(() => {
  createMenus();
  void refreshBadge();
});
ext.runtime.onStartup.addListener(() => void flush());
ext.contextMenus.onClicked.addListener((info, tab) => void onMenuClick(info, tab));
ext.commands.onCommand.addListener((command, tab) => void onCommand(command, tab));
ext.alarms.onAlarm.addListener((alarm) => void onAlarm(alarm));
ext.runtime.onMessage.addListener((request: Request, sender, sendResponse) => {
  if (sender.id !== ext.runtime.id) return false;
  void handle(request).then(sendResponse);
  return true; // answers asynchronously
});
ext.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && KEYS.queue in changes) void refreshBadge();
  // Just signed in: deliver what waited for a session.
  if (area === 'local' && changes[KEYS.session]?.newValue) void flush(true);
});
self.addEventListener('online', () => void flush(true));

// The listeners above, reachable from the worker's console and the end-to-end tests, which
// cannot click a context menu or press a browser shortcut.
Object.assign(globalThis, { fuzeBackground: { onMenuClick, onCommand, onAlarm, flush, outbox } });
