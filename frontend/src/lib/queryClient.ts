export { clearProblem, type NetProblem, useNetProblem } from './net';
import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';
import { ApiError } from './api';
import { reportError, reportSuccess } from './net';

export function createQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({ onError: reportError, onSuccess: reportSuccess }),
    mutationCache: new MutationCache({ onError: reportError, onSuccess: reportSuccess }),
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        refetchOnWindowFocus: false,
        retry: (count, error) => {
          if (error instanceof ApiError) {
            if (error.status === 0) return count < 30; // keep trying while the server is away
            if (error.status === 429 || (error.status >= 400 && error.status < 500)) return false;
          }
          return count < 2;
        },
        retryDelay: (count, error) =>
          error instanceof ApiError && error.status === 0 ? Math.min(1000 * 2 ** count, 10_000) : 500 * 2 ** count,
      },
    },
  });
}
