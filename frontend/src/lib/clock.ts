/**
 * One shared clock for relative times ("2 minutes ago"): a component asks for the current time
 * at the resolution it needs, and one interval per resolution ticks while anyone listens, so a
 * list of rows re-renders on one timer, not one each. A tab coming back into view ticks at
 * once (browsers slow timers down in hidden tabs).
 */
import { useCallback, useSyncExternalStore } from 'react';

interface Clock {
  now: number;
  listeners: Set<() => void>;
  timer?: ReturnType<typeof setInterval>;
}

const clocks = new Map<number, Clock>();
let watchingVisibility = false;

function clockOf(periodMs: number): Clock {
  let clock = clocks.get(periodMs);
  if (!clock) {
    clock = { now: Date.now(), listeners: new Set() };
    clocks.set(periodMs, clock);
  }
  return clock;
}

function tick(clock: Clock) {
  clock.now = Date.now();
  for (const listener of [...clock.listeners]) listener();
}

function subscribe(periodMs: number, listener: () => void): () => void {
  const clock = clockOf(periodMs);
  clock.listeners.add(listener);
  if (clock.timer === undefined) {
    clock.timer = setInterval(() => tick(clock), periodMs);
  }
  if (!watchingVisibility) {
    watchingVisibility = true;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      for (const c of clocks.values()) if (c.listeners.size) tick(c);
    });
  }
  return () => {
    clock.listeners.delete(listener);
    if (clock.listeners.size) return;
    clearInterval(clock.timer);
    if (clocks.get(periodMs) === clock) clocks.delete(periodMs); // a new one starts from its creation
  };
}

/** The current time in ms, refreshed every `periodMs` while the component is mounted. */
export function useNow(periodMs: number): number {
  const subscribeTo = useCallback((listener: () => void) => subscribe(periodMs, listener), [periodMs]);
  return useSyncExternalStore(subscribeTo, () => clockOf(periodMs).now);
}

/** How often a relative time `ageMs` old changes enough to show: seconds tick faster than days. */
export function refreshPeriod(ageMs: number): number {
  const age = Math.abs(ageMs);
  if (age < 60_000) return 5_000;
  if (age < 3_600_000) return 30_000;
  if (age < 86_400_000) return 5 * 60_000;
  return 60 * 60_000;
}
