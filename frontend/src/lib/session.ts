/**
 * The signed-in session: the token pair, kept in localStorage so that a reload (or another
 * tab) stays signed in, and observable from React with useSyncExternalStore.
 */
export interface Tokens {
  access_token: string;
  refresh_token: string;
}

const KEY = 'fuze.session';
type Listener = () => void;
const listeners = new Set<Listener>();

function read(): Tokens | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<Tokens>;
    return parsed.access_token && parsed.refresh_token ? (parsed as Tokens) : null;
  } catch {
    return null;
  }
}

let current: Tokens | null = read();

export function getTokens(): Tokens | null {
  return current;
}

/** Re-read what is stored (another tab may have refreshed the pair). */
export function reloadTokens(): Tokens | null {
  const stored = read();
  if (stored?.refresh_token !== current?.refresh_token) {
    current = stored;
    listeners.forEach((l) => l());
  }
  return current;
}

export function setTokens(tokens: Tokens | null): void {
  current = tokens ? { access_token: tokens.access_token, refresh_token: tokens.refresh_token } : null;
  try {
    if (current) localStorage.setItem(KEY, JSON.stringify(current));
    else localStorage.removeItem(KEY);
  } catch {
    // private mode: the session lasts as long as the tab
  }
  listeners.forEach((l) => l());
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key === KEY) reloadTokens();
  });
}

/** Seconds until a JWT expires (0 when it cannot be read: treat it as spent). */
export function secondsLeft(token: string, now = Date.now()): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload.exp === 'number' ? payload.exp - now / 1000 : 0;
  } catch {
    return 0;
  }
}
