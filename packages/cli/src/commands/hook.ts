import { usageError } from '@tvault/core';
export function hookCommand(_a: unknown): void {
  throw usageError('hook: not yet built');
}
