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

/** A secret the server shows once (a token, an invite code), with a button to copy it. */
export function ShownOnce({ what, value, testId }: { what: string; value: string; testId: string }) {
  return (
    <InfoNotice>
      Copy this {what} now; it will not be shown again:{' '}
      <code className="token" data-testid={testId}>
        {value}
      </code>{' '}
      <button type="button" className="small" onClick={() => navigator.clipboard?.writeText(value)}>
        Copy
      </button>
    </InfoNotice>
  );
}

export function Unavailable({ what }: { what: string }) {
  return (
    <div className="notice notice-info" role="status" data-testid="unavailable">
      {what} {what.endsWith('s') ? 'are' : 'is'} not available on this server yet.
    </div>
  );
}
