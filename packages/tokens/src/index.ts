// @tvault/tokens: the capability token file (docs/PROTOCOL.md, "Capability tokens"), one
// package for its one format: the agent reads it (at start, on SIGHUP), `tvault agent token`
// writes it. See ../README.md for why it is a package of its own.
export {
  type TokenSpec,
  MAX_TOKEN_FILE,
  defaultTokenFile,
  tokenId,
  hashToken,
  isUnrestricted,
  describeScope,
  parseTime,
  checkTokenName,
  checkTokenKeys,
  checkTokenProject,
  checkTokenFlag,
  checkAllowEnv,
  parseTokenFile,
  formatTokenLine,
  readTokenFile,
} from './token-file';
export { ensureTokenFile, editTokenFile, dropLine } from './token-edit';
