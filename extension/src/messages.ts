/** Messages from the popup to the service worker. */
import type { FlushResult, SaveResult } from './outbox';

export interface SaveTabRequest {
  type: 'save-tab';
  tabId: number;
  /** Only when the user changed it; otherwise the server takes the page's own title. */
  title?: string;
  notes?: string;
  tags?: string[];
  /** "Archive" chosen instead of "Read later" (the default). */
  archived?: boolean;
}

export type Request = SaveTabRequest | { type: 'flush' };

export interface ErrorInfo {
  name: string;
  message: string;
  status?: number;
}

export type Response =
  | { ok: true; result: SaveResult | FlushResult }
  | { ok: false; error: ErrorInfo };
