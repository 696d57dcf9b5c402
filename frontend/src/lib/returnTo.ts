/** What the sign-in page is told in its history state: where to go back to, and why it shows. */
export interface SignInState {
  from?: string;
  expired?: boolean;
}

/**
 * Where to go after signing in: the page that asked for it, if it is a page of this app
 * (a path, never another origin such as //elsewhere.example, nor the sign-in pages), else the library.
 */
export function returnTo(state: unknown): string {
  const from = (state as SignInState | null)?.from;
  if (typeof from !== 'string' || !from.startsWith('/') || /^\/[/\\]/.test(from)) return '/';
  if (/^\/sign(in|up)(?=$|[/?#])/.test(from)) return '/';
  return from;
}
