// The env formats moved to core (@tvault/core/env-format, packages/core/src/env-format.ts), so
// that the agent can answer `reply: "shell"` with the same bytes. This re-export is left only
// for fast.ts's import; every other module imports @tvault/core/env-format directly.
export * from '@tvault/core/env-format';
