// @tvault/core/base: the part of core that loads nothing heavy (no SQLite, no NaCl, no KDF, no
// node:crypto): errors and exit codes, name rules, where the vault lives, the privacy check and
// the duration formatter. The CLI's fast path (packages/cli/src/fast.ts) imports only this.
export { ExitCode, type ExitCodeValue, TvaultError, isTvaultError, usageError, notFound, integrityError, lockedError, errnoCode, errnoText } from './errors';
export { KEY_NAME_RE, MAX_KEY_NAME, MAX_VALUE_BYTES, MAX_PROJECT_NAME, checkKeyName, checkProjectName, checkValue } from './names';
export { resolveVaultDir, vaultFiles, noVaultError, PRIVATE_DIR, checkPrivateDir, ensurePrivateDir } from './paths';
export { type PrivacyRule, type PrivacyFinding, type PrivacySubject, privacyFinding, privacyMessage, checkPrivate, octalMode } from './private-files';
export { formatDuration } from './duration';
export { type ProcessMark, type Lease, processStart, markOf, isAlive, leaseDir, takeLease, releaseLease, liveLeases, leaseRefusal } from './handoff-lease';
export { writeFileAtomic } from './temp-file';
