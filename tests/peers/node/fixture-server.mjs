// The MCP server behind authproof in tests/peer_mcp_conformance.rs
// (`conformance_server_scenarios_against_a_fixture_backend`): the tools, resources and prompts
// that the `server` scenarios of the pinned conformance suite call by name, written from the
// scenarios' requirement texts and checks. It runs on the pinned TypeScript SDK (McpServer over
// streamable HTTP) with stateful sessions, and keeps every SSE event of a session so a client
// can resume a stream with Last-Event-ID. Prints
// `fixture server listening on http://127.0.0.1:PORT/mcp` once it listens.
//
// It checks no Host or Origin header: behind the proxy, `dns-rebinding-protection` must pass on
// the proxy's own checks.
//
// AUTHPROOF_FIXTURE_DEBUG=1 logs the transport's errors to stderr.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  LoggingLevelSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const debug = process.env.AUTHPROOF_FIXTURE_DEBUG === '1';

/** How long a client waits before reconnecting a stream the server closed (SSE `retry`). */
const RETRY_MS = 200;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Media: a 1x1 PNG and a 10 ms silent WAV, made here rather than read from files.

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGPQqzUCAAG6AN7Eir+IAAAAAElFTkSuQmCC';

/** 8 kHz, mono, 8-bit PCM: a RIFF/WAVE header and 80 samples at the midpoint (silence). */
function silentWav() {
  const samples = 80;
  const wav = Buffer.alloc(44 + samples, 0x80);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + samples, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // channels
  wav.writeUInt32LE(8000, 24); // sample rate
  wav.writeUInt32LE(8000, 28); // byte rate
  wav.writeUInt16LE(1, 32); // block align
  wav.writeUInt16LE(8, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(samples, 40);
  return wav.toString('base64');
}
const WAV_SILENCE = silentWav();

const text = (t) => ({ type: 'text', text: t });
const image = () => ({ type: 'image', data: PNG_1X1, mimeType: 'image/png' });

// ---------------------------------------------------------------------------------------------
// The tool whose input schema uses JSON Schema 2020-12 keywords (`json-schema-2020-12`): it is
// advertised exactly as written here. Zod cannot express `$anchor`, `$ref` into `$defs` or
// `if`/`then`/`else`, so the Zod schema validates the same rules and carries this document as
// its JSON Schema metadata (which replaces the keys Zod would generate).

const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

const contactInput = z
  .strictObject({
    name: z.string().optional(),
    address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
    contactMethod: z.enum(['phone', 'email']).optional(),
    phone: z.string().optional(),
    email: z.string().optional(),
  })
  .refine((v) => v.phone !== undefined || v.email !== undefined, 'phone or email is required')
  .refine((v) => (v.contactMethod === 'phone' ? v.phone !== undefined : v.email !== undefined), {
    message: 'the chosen contact method needs its value (phone, else email)',
  })
  .meta(SCHEMA_2020_12);

// ---------------------------------------------------------------------------------------------
// Elicitation schemas.

const CONTACT_FORM = {
  type: 'object',
  properties: {
    username: { type: 'string', description: "User's response" },
    email: { type: 'string', description: "User's email address" },
  },
  required: ['username', 'email'],
};

/** One field per primitive type, each with a default (SEP-1034). */
const DEFAULTS_FORM = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'Full name', default: 'John Doe' },
    age: { type: 'integer', description: 'Age in years', default: 30 },
    score: { type: 'number', description: 'Score', default: 95.5 },
    status: {
      type: 'string',
      description: 'Account status',
      enum: ['active', 'inactive', 'pending'],
      default: 'active',
    },
    verified: { type: 'boolean', description: 'Whether the account is verified', default: true },
  },
};

/** The five ways to offer choices (SEP-1330). */
const ENUMS_FORM = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', description: 'Pick one', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      description: 'Pick one (titled)',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      description: 'Pick one (legacy titles)',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: {
      type: 'array',
      description: 'Pick any',
      items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    },
    titledMulti: {
      type: 'array',
      description: 'Pick any (titled)',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// One McpServer per session.

/** A tool result that reports a failure to the model (`isError`), not a protocol error. */
const toolError = (message) => ({ isError: true, content: [text(message)] });

function fixture() {
  const mcp = new McpServer(
    { name: 'authproof-conformance-fixture', version: '1.0.0' },
    { capabilities: { logging: {} } },
  );
  const server = mcp.server;

  // The session's log level: messages below it are not sent. (The SDK keeps its own copy
  // private, so this handler replaces the one it installs for the `logging` capability.)
  const severity = LoggingLevelSchema.options;
  let logLevel;
  server.setRequestHandler(SetLevelRequestSchema, ({ params }) => {
    logLevel = params.level;
    return {};
  });
  /** Send a log message on the stream of the request being answered. */
  const log = async (extra, level, data) => {
    if (logLevel !== undefined && severity.indexOf(level) < severity.indexOf(logLevel)) return;
    await extra.sendNotification({ method: 'notifications/message', params: { level, data } });
  };

  // Tools.
  mcp.registerTool('test_simple_text', { description: 'Answers with one text item.' }, async () => ({
    content: [text('This is a simple text response for testing.')],
  }));
  mcp.registerTool('test_image_content', { description: 'Answers with a 1x1 PNG.' }, async () => ({
    content: [image()],
  }));
  mcp.registerTool('test_audio_content', { description: 'Answers with 10 ms of silence (WAV).' }, async () => ({
    content: [{ type: 'audio', data: WAV_SILENCE, mimeType: 'audio/wav' }],
  }));
  mcp.registerTool(
    'test_embedded_resource',
    { description: 'Answers with an embedded text resource.' },
    async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  );
  mcp.registerTool(
    'test_multiple_content_types',
    { description: 'Answers with text, an image and an embedded resource.' },
    async () => ({
      content: [
        text('Multiple content types test:'),
        image(),
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );
  mcp.registerTool(
    'test_tool_with_logging',
    { description: 'Logs three info messages while it runs.' },
    async (extra) => {
      await log(extra, 'info', 'Tool execution started');
      await sleep(50);
      await log(extra, 'info', 'Tool processing data');
      await sleep(50);
      await log(extra, 'info', 'Tool execution completed');
      return { content: [text('Logged three messages.')] };
    },
  );
  mcp.registerTool(
    'test_error_handling',
    { description: 'Always fails, reporting the failure in its result.' },
    async () => toolError('This tool intentionally returns an error for testing'),
  );
  mcp.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50 and 100 of 100 when given a progress token.' },
    async (extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progress > 0) await sleep(50);
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100 },
          });
        }
      }
      return { content: [text('Done: 100 of 100.')] };
    },
  );
  mcp.registerTool(
    'test_sampling',
    {
      description: 'Asks the client to sample an LLM with the given prompt.',
      inputSchema: { prompt: z.string().describe('The prompt to send to the LLM') },
    },
    async ({ prompt }, extra) => {
      if (!server.getClientCapabilities()?.sampling) return toolError('The client does not offer sampling');
      const answer = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: text(prompt) }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const said = answer.content?.type === 'text' ? answer.content.text : JSON.stringify(answer.content);
      return { content: [text(`LLM response: ${said}`)] };
    },
  );
  /** Ask the client to fill `requestedSchema`; the result says what it answered. */
  const elicit = async (extra, message, requestedSchema, prefix) => {
    if (!server.getClientCapabilities()?.elicitation) return toolError('The client does not offer elicitation');
    const answer = await extra.sendRequest(
      { method: 'elicitation/create', params: { message, requestedSchema } },
      ElicitResultSchema,
    );
    return { content: [text(`${prefix}: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`)] };
  };
  mcp.registerTool(
    'test_elicitation',
    {
      description: 'Asks the user, through the client, for a username and an email address.',
      inputSchema: { message: z.string().describe('The message to show the user') },
    },
    async ({ message }, extra) => elicit(extra, message, CONTACT_FORM, 'User response'),
  );
  mcp.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Asks the user for a form whose fields all have defaults.' },
    async (extra) => elicit(extra, 'Check these details', DEFAULTS_FORM, 'Elicitation completed'),
  );
  mcp.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Asks the user to choose, in each of the five enum forms.' },
    async (extra) => elicit(extra, 'Choose your options', ENUMS_FORM, 'Elicitation completed'),
  );
  mcp.registerTool(
    'test_reconnection',
    { description: 'Closes its response stream before answering; the client resumes it.' },
    async (extra) => {
      await log(extra, 'info', 'closing the stream; resume with Last-Event-ID');
      extra.closeSSEStream?.();
      await sleep(RETRY_MS);
      return { content: [text('Answered after the stream was resumed.')] };
    },
  );
  mcp.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Tool with JSON Schema 2020-12 features', inputSchema: contactInput },
    async (args) => ({ content: [text(`Contact: ${JSON.stringify(args)}`)] }),
  );

  // Resources.
  mcp.registerResource(
    'static-text',
    'test://static-text',
    { description: 'A fixed text resource.', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );
  mcp.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'A fixed binary resource (a 1x1 PNG).', mimeType: 'image/png' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_1X1 }] }),
  );
  mcp.registerResource(
    'watched-resource',
    'test://watched-resource',
    { description: 'A resource clients may subscribe to.', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched content.' }] }),
  );
  mcp.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'Data for the id in the URI.', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );
  // Subscriptions: McpServer has no handlers for them.
  const subscribed = new Set();
  server.registerCapabilities({ resources: { subscribe: true } });
  server.setRequestHandler(SubscribeRequestSchema, ({ params }) => {
    subscribed.add(params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, ({ params }) => {
    subscribed.delete(params.uri);
    return {};
  });

  // Prompts (the first argument of test_prompt_with_arguments completes).
  const arg1Suggestions = ['test-alpha', 'test-beta', 'hello', 'paris'];
  mcp.registerPrompt(
    'test_simple_prompt',
    { description: 'A prompt without arguments.' },
    async () => ({ messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] }),
  );
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments.',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (value) =>
          arg1Suggestions.filter((s) => s.startsWith(value)),
        ),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt that embeds the resource it is given.',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: text('Please process the embedded resource above.') },
      ],
    }),
  );
  mcp.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image.' }, async () => ({
    messages: [
      { role: 'user', content: image() },
      { role: 'user', content: text('Please analyze the image above.') },
    ],
  }));

  return mcp;
}

// ---------------------------------------------------------------------------------------------
// Resumable streams: every event of a session, so a client that lost a stream can replay what
// followed the last event it saw. Priming events (empty messages) are stored for their ids but
// never replayed.

class SessionEvents {
  #events = [];
  #byId = new Map();

  async storeEvent(streamId, message) {
    const event = { id: String(this.#events.length + 1), streamId, message };
    this.#events.push(event);
    this.#byId.set(event.id, event);
    return event.id;
  }

  async getStreamIdForEventId(eventId) {
    return this.#byId.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const last = this.#byId.get(lastEventId);
    if (!last) throw new Error(`unknown event id ${lastEventId}`);
    for (const event of this.#events.slice(Number(last.id))) {
      if (event.streamId === last.streamId && Object.keys(event.message).length > 0) {
        await send(event.id, event.message);
      }
    }
    return last.streamId;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: /mcp only. A request naming a session goes to its transport (404 for an unknown or
// terminated one); any other request gets a fresh transport, which opens a session on
// `initialize` and answers anything else with an error.

const sessions = new Map();

function notFound(res, message) {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message } }));
}

async function handle(req, res) {
  if (new URL(req.url, 'http://fixture').pathname !== '/mcp') {
    notFound(res, 'Not found');
    return;
  }
  const sessionId = req.headers['mcp-session-id'];
  if (sessionId !== undefined) {
    const transport = sessions.get(sessionId);
    if (transport) await transport.handleRequest(req, res);
    else notFound(res, 'Session not found');
    return;
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: new SessionEvents(),
    retryInterval: RETRY_MS,
    onsessioninitialized: (id) => sessions.set(id, transport),
    onsessionclosed: (id) => sessions.delete(id),
  });
  if (debug) transport.onerror = (e) => console.error(`[fixture] ${e.message}`);
  const mcp = fixture();
  await mcp.connect(transport);
  await transport.handleRequest(req, res);
  if (transport.sessionId === undefined) await mcp.close();
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(`[fixture] ${req.method} ${req.url}: ${e.stack ?? e}`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } }));
  });
});

httpServer.listen(0, '127.0.0.1', () => {
  const { port } = httpServer.address();
  process.stdout.write(`fixture server listening on http://127.0.0.1:${port}/mcp\n`);
});
