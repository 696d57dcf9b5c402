import type { ReactNode } from 'react';

import { describeError } from '../lib/api';

export function ErrorNotice({ error, children }: { error?: unknown; children?: ReactNode }) {
  if (!error && !children) return null;
  return (
    <div className="notice notice-error" role="alert">
      {children ?? describeError(error)}
    </div>
  );
}

export function InfoNotice({ children }: { children: ReactNode }) {
  return (
    <div className="notice notice-info" role="status">
      {children}
    </div>
  );
}

export function Unavailable({ what }: { what: string }) {
  return (
    <div className="notice notice-info" role="status" data-testid="unavailable">
      {what} {what.endsWith('s') ? 'are' : 'is'} not available on this server yet.
    </div>
  );
}
