/** Recognizing Kubernetes API failures by their HTTP code (never by message text). */
import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed API call, or undefined when it did not come from the API server. */
export function apiStatusCode(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (typeof error === 'object' && error !== null) {
    const candidate = (error as { code?: unknown; statusCode?: unknown }).statusCode ?? (error as { code?: unknown }).code;
    if (typeof candidate === 'number') return candidate;
  }
  return undefined;
}

export const isNotFound = (error: unknown): boolean => apiStatusCode(error) === 404;
export const isConflict = (error: unknown): boolean => apiStatusCode(error) === 409;
export const isAlreadyExists = (error: unknown): boolean => apiStatusCode(error) === 409;

/** A short description of an API failure for logs and events. */
export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        const parsed: unknown = JSON.parse(body);
        if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') message = (parsed as { message: string }).message;
      } catch {
        message = body.slice(0, 200);
      }
    }
    return `HTTP ${error.code}${message === undefined ? '' : `: ${message}`}`;
  }
  return error instanceof Error ? error.message : String(error);
}
