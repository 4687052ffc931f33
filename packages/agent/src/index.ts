// @tvault/agent: the unlock agent daemon. The CLI's `tvault agent start` loads this bundle
// (dist/agent.cjs) only when it starts an agent, so pino and the native addon stay off every
// other command's path.
export { startAgent, formatDuration, type AgentOptions, type StopReason } from './agent';
export { PROTOCOL_VERSION, MAX_REQUEST_BYTES, type ErrorCode } from './protocol';
