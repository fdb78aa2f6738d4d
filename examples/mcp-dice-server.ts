/**
 * A harmless example MCP tool server over stdio (run: node --import tsx examples/mcp-dice-server.ts): `roll` (dice) and `flip`
 * (a coin). List it in an MCP_SERVERS file (examples/mcp-servers.json) and
 * enable its tools in a channel with `/tools enable dice.*`.
 */
import { randomInt } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const tools = [
  {
    name: 'roll',
    description: 'Roll dice, e.g. three six-sided dice',
    inputSchema: {
      type: 'object',
      properties: {
        count: { type: 'integer', minimum: 1, maximum: 20, description: 'How many dice' },
        sides: { type: 'integer', minimum: 2, maximum: 1000, description: 'Sides per die' },
      },
      required: ['count', 'sides'],
    },
    annotations: { readOnlyHint: true },
  },
  { name: 'flip', description: 'Flip a coin', inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } },
];

const server = new Server({ name: 'dice', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, (request) => {
  const args: Record<string, unknown> = request.params.arguments ?? {};
  if (request.params.name === 'flip') return { content: [{ type: 'text', text: randomInt(2) === 0 ? 'heads' : 'tails' }] };
  if (request.params.name === 'roll') {
    const count = Number(args.count);
    const sides = Number(args.sides);
    if (!Number.isInteger(count) || count < 1 || count > 20 || !Number.isInteger(sides) || sides < 2 || sides > 1000) {
      return { content: [{ type: 'text', text: 'count must be 1-20 and sides 2-1000' }], isError: true };
    }
    const rolls = Array.from({ length: count }, () => randomInt(1, sides + 1));
    return { content: [{ type: 'text', text: JSON.stringify({ rolls, total: rolls.reduce((a, b) => a + b, 0) }) }] };
  }
  return { content: [{ type: 'text', text: `unknown tool ${request.params.name}` }], isError: true };
});
await server.connect(new StdioServerTransport());
