// The configuration block `tvault mcp install CLIENT` prints, per client: exact, and parseable
// by the format that client reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MCP_CLIENTS, configBlock } from './mcp';

const spec = { command: '/opt/tvault/bin/tvault', args: ['mcp', '-p', 'backend'], env: { TVAULT_DIR: '/home/me/.tvault', TVAULT_AGENT_TOKEN: 'tvt_abc"\\' } };

test('mcp install: each client gets its own block, with the command, args and env', () => {
  for (const client of ['claude', 'cursor', 'windsurf', 'json'] as const) {
    const b = configBlock(client, spec);
    assert.deepEqual(JSON.parse(b.text), { mcpServers: { tvault: spec } }, client);
    assert.ok(b.where.length > 10, client);
  }
  assert.deepEqual(JSON.parse(configBlock('vscode', spec).text), { servers: { tvault: { type: 'stdio', ...spec } } });
  assert.equal(
    configBlock('codex', spec).text,
    [
      '[mcp_servers.tvault]',
      'command = "/opt/tvault/bin/tvault"',
      'args = ["mcp", "-p", "backend"]',
      '',
      '[mcp_servers.tvault.env]',
      'TVAULT_DIR = "/home/me/.tvault"',
      'TVAULT_AGENT_TOKEN = "tvt_abc\\"\\\\"',
    ].join('\n'),
  );
  assert.deepEqual([...MCP_CLIENTS].sort(), ['claude', 'codex', 'cursor', 'json', 'vscode', 'windsurf']);
});

test('mcp install: the codex block is TOML that reads back to the same values', () => {
  const toml = require('smol-toml') as typeof import('smol-toml');
  for (const dir of ['/home/me/.tvault', '/odd "dir"\\\t\u007f\u0001\u2028é']) {
    const s = { ...spec, env: { ...spec.env, TVAULT_DIR: dir } };
    const parsed = toml.parse(configBlock('codex', s).text) as { mcp_servers: { tvault: unknown } };
    assert.deepEqual(JSON.parse(JSON.stringify(parsed.mcp_servers.tvault)), s, dir);
  }
});
