// stub: the handoff branch replaces this file
// `tvault handoff inspect`'s answer for an environment: whether it is inside a handoff, and for
// which project and how many keys. The MCP server's handoff tool (mcp/server.ts) reports it.

export async function inspectHandoff(env: NodeJS.ProcessEnv): Promise<{ handoff: false } | { handoff: true; project: string; keys: number }> {
  void env;
  return { handoff: false };
}
