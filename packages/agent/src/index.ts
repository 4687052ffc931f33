// @tvault/agent: the unlock agent daemon. The CLI's `tvault agent start` loads this bundle
// (dist/agent.cjs) only when it starts an agent, so pino and the native addon stay off every
// other command's path. The wire protocol itself is @tvault/protocol.
export { startAgent, type AgentOptions, type StopReason } from './agent';
