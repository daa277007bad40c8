// The MCP server behind the proxy in tests/peer_ts_sdk_client.rs: the TypeScript SDK's own
// McpServer over streamable HTTP (stateless: a server and transport per request), on a
// loopback port. Prints `LISTENING <url>` once it listens.
//
// Tools: `add` (a + b) and `identity` (what the proxy told the server about the caller:
// the X-Authproof-* headers, and whether any Authorization header arrived, which it must not).
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function build() {
  const server = new McpServer({ name: 'ts-sdk-backend', version: '1.0.0' });
  server.registerTool(
    'add',
    { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  server.registerTool(
    'identity',
    { description: 'What the proxy forwarded about the caller.', inputSchema: {} },
    async (_args, extra) => {
      const headers = extra.requestInfo?.headers ?? {};
      const identity = {
        subject: headers['x-authproof-subject'] ?? null,
        client_id: headers['x-authproof-client-id'] ?? null,
        authorization_present: headers.authorization !== undefined,
      };
      return { content: [{ type: 'text', text: JSON.stringify(identity) }], structuredContent: identity };
    },
  );
  return server;
}

const httpServer = http.createServer(async (req, res) => {
  if (!req.url.startsWith('/mcp')) {
    res.writeHead(404).end();
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
    return;
  }
  const server = build();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
});

httpServer.listen(0, '127.0.0.1', () => {
  const { port } = httpServer.address();
  process.stdout.write(`LISTENING http://127.0.0.1:${port}/mcp\n`);
});
