import { usageError } from './errors';

export const KEY_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_KEY_NAME = 255;
export const MAX_VALUE_BYTES = 1024 * 1024;
export const MAX_PROJECT_NAME = 100;

export function checkKeyName(name: string): string {
  if (name.length > MAX_KEY_NAME || !KEY_NAME_RE.test(name)) {
    throw usageError(`invalid key name ${JSON.stringify(name.slice(0, 80))}: use letters, digits and _, not starting with a digit (max ${MAX_KEY_NAME})`);
  }
  return name;
}

export function checkProjectName(name: string): string {
  // Printable, no slashes or control characters: project names appear in paths of docs and in output.
  if (name.length < 1 || name.length > MAX_PROJECT_NAME || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw usageError(
      `invalid project name ${JSON.stringify(name.slice(0, 120))}: 1-${MAX_PROJECT_NAME} characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/** Values are UTF-8 text without NUL, up to 1 MiB. Checked on the bytes, never logged. */
export function checkValue(value: Uint8Array): void {
  if (value.length > MAX_VALUE_BYTES) throw usageError(`value is too large (${value.length} bytes; the limit is 1 MiB)`);
  if (value.includes(0)) throw usageError('value contains a NUL byte, which cannot be stored or passed through the environment');
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    throw usageError('value is not valid UTF-8');
  }
}
