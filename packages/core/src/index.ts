// @tvault/core: the vault, its format, crypto and storage. What other packages may use is listed
// here by name; the database handle's helpers (openDb, writeTx, the schema) stay inside.
// The light part (no SQLite, NaCl or KDF) is also its own entry, @tvault/core/base.
export {
  ExitCode,
  type ExitCodeValue,
  TvaultError,
  isTvaultError,
  usageError,
  notFound,
  integrityError,
  lockedError,
  errnoCode,
  errnoText,
  KEY_NAME_RE,
  MAX_KEY_NAME,
  MAX_VALUE_BYTES,
  MAX_PROJECT_NAME,
  checkKeyName,
  checkProjectName,
  checkValue,
  resolveVaultDir,
  vaultFiles,
  noVaultError,
  PRIVATE_DIR,
  checkPrivateDir,
  ensurePrivateDir,
  type PrivacyRule,
  type PrivacyFinding,
  type PrivacySubject,
  privacyFinding,
  privacyMessage,
  checkPrivate,
  octalMode,
  formatDuration,
  type ProcessMark,
  type Lease,
  processStart,
  markOf,
  isAlive,
  leaseDir,
  takeLease,
  releaseLease,
  liveLeases,
  leaseRefusal,
} from './base';
export { zero } from './bytes';
export { type NativeRows, type OpenRows, type SecretboxBackend, type ShellRows, secretboxBackend, useNativeRows, useNativeSecretbox } from './crypto';
export { type KdfParams, DEFAULT_KDF, isWeak, checkKdfParams, checkNewKdfParams, deriveKek } from './kdf';
export { type Actor, type AuditEvent, type AuditFilter, type AuditRow, type ChainReport, directActor } from './audit';
export { Vault, DEFAULT_PROJECT, PASSPHRASE_RECIPIENT } from './vault';
export { backup, restore } from './backup';
export { createTempFile, writeFileAtomic } from './temp-file';
export type { ProjectRow, SecretMeta, VersionMeta, Secret, Selection, SealedSnapshot, IdentityRow, RecipientRow } from './vault';
export { parseIdentityText, readIdentityFile, generateIdentity } from './identity-file';
export { COMMIT_FILE_NAME, COMMIT_FILE_VERSION, parseCommitFile, serializeCommitFile, canonicalContent } from './commit-file-format';
export type { CommitDoc, CommitEntry, CommitRecipient } from './commit-file-format';
export { unlockCommitFile, openEntries, sealCommitFile, mergeEntries, verifyMac, checkAgeRecipient, type PlainEntry, type Previous } from './commit-file';
