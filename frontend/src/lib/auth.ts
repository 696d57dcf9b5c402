import { useSyncExternalStore } from 'react';

import { authLogin, authLogout, authRegister } from '../client/sdk.gen';
import { getTokens, setTokens, subscribe, type Tokens } from './session';

export function useSession(): Tokens | null {
  return useSyncExternalStore(subscribe, getTokens, getTokens);
}

export async function signIn(login: string, password: string): Promise<void> {
  const { data } = await authLogin({ body: { login, password }, throwOnError: true });
  setTokens(data);
}

export async function signUp(username: string, email: string, password: string, inviteCode?: string): Promise<void> {
  const body = inviteCode ? { username, email, password, invite_code: inviteCode } : { username, email, password };
  await authRegister({ body, throwOnError: true });
  await signIn(username, password);
}

export async function signOut(): Promise<void> {
  const tokens = getTokens();
  setTokens(null);
  if (tokens) {
    try {
      await authLogout({
        body: { refresh_token: tokens.refresh_token },
        headers: { Authorization: `Bearer ${tokens.access_token}` },
      });
    } catch {
      // Signed out locally either way; the refresh token expires on its own.
    }
  }
}
