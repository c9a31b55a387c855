import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted outcome for a single attempt of a request. */
export interface FaultStep {
  status?: number; // non-2xx: answer with an OpenAI-style error body
  retry_after?: number | string; // Retry-After header on that error
  delay_ms?: number; // replaces the latency for this attempt; alone it means success after the delay
  drop?: boolean; // destroy the socket without any response
  reset_mid_body?: boolean; // 200 headers and half the body, then destroy the socket
  non_json?: boolean; // 200, application/json, body "this is not json"
  invalid_json?: boolean; // 200 with a truncated JSON body
}

/** Per-request instructions, read from the request body's `x_sim` field. */
export interface SimDirective {
  key?: string; // counting key for calls(); default: the body without x_sim (the raw body text if there is no x_sim)
  latency_ms?: number; // overrides the server-wide latency for this request
  faults?: FaultStep[]; // attempt n (0-based, per key) uses faults[n]
  always?: FaultStep; // used for every attempt that faults does not cover; with neither, success
  group?: string; // counted in inFlightOf(group) while its response is open (e.g. the batch's owner)
}

/** Options for {@link UpstreamSimulator.start}. */
export interface SimulatorOptions {
  host?: string;
  port?: number;
  latencyMs?: number;
}

type JsonObject = Record<string, unknown>;
type Builder = (body: JsonObject) => JsonObject;

const DEFAULT_MODEL = 'sim-model';
const NOT_JSON_BODY = 'this is not json';
const TRUNCATED_JSON_BODY = '{"id": "x", "choices": [';
// Longer than typical client idle timeouts so the server never closes a pooled socket under a benchmark.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** A real HTTP server that fakes an OpenAI-compatible backend under `/v1`, with scriptable faults and latency. */
export class UpstreamSimulator {
  /** Server-wide delay before answering; `x_sim.latency_ms` and `delay_ms` override it per request. */
  latencyMs: number;
  readonly baseUrl: string;
  readonly port: number;

  private readonly counts = new Map<string, number>();
  private readonly auth = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly groups = new Map<string, number>();
  private total = 0;
  private active = 0;
  private peak = 0;
  private firstAt: number | undefined;
  private lastAt: number | undefined;
  /** Delayed answers since the last reset, and how late their timers fired in total (ms past the delay asked). */
  private delayed = 0;
  private lateTotal = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    host: string,
    port: number,
    latencyMs: number,
  ) {
    this.port = port;
    this.baseUrl = `http://${urlHost(host)}:${port}/v1`;
    this.latencyMs = latencyMs;
    server.on('request', this.onRequest);
  }

  /** Starts listening (default 127.0.0.1, random port, 0 ms latency) and resolves once the server accepts requests. */
  static start(opts: SimulatorOptions = {}): Promise<UpstreamSimulator> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        const { port } = server.address() as AddressInfo;
        resolve(new UpstreamSimulator(server, host, port, opts.latencyMs ?? 0));
      });
    });
  }

  /** How many parsed requests arrived with this counting key (every attempt counts). */
  calls(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** A copy of all counting keys and their request counts. */
  callCounts(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Every HTTP request received, including rejected ones (404, 405, 400). */
  get totalCalls(): number {
    return this.total;
  }

  /** Requests whose response has not finished yet. */
  get inFlight(): number {
    return this.active;
  }

  /** Requests of `x_sim.group` whose response has not finished yet. */
  inFlightOf(group: string): number {
    return this.groups.get(group) ?? 0;
  }

  /** Highest {@link inFlight} seen since start or the last {@link reset}. */
  get peakInFlight(): number {
    return this.peak;
  }

  /**
   * When the first request since start or the last {@link reset} arrived and when the latest response finished
   * (epoch ms), or undefined before any.
   */
  get busySpan(): { firstAt: number; lastAt: number } | undefined {
    return this.firstAt === undefined ? undefined : { firstAt: this.firstAt, lastAt: this.lastAt ?? this.firstAt };
  }

  /** Distinct Authorization header values seen. */
  authHeaders(): string[] {
    return [...this.auth];
  }

  /** How late, on average, a delayed answer's timer fired past its delay since start or the last {@link reset} (ms). */
  get meanTimerLateMs(): number {
    return this.delayed === 0 ? 0 : this.lateTotal / this.delayed;
  }

  /** Zeroes call counters and the peak, and forgets Authorization headers; live in-flight requests are unaffected. */
  reset(): void {
    this.counts.clear();
    this.auth.clear();
    this.total = 0;
    this.peak = 0;
    this.firstAt = undefined;
    this.lastAt = undefined;
    this.delayed = 0;
    this.lateTotal = 0;
  }

  /** Stops listening, cancels pending delayed answers and destroys every socket, keep-alive ones included. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve, reject) => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      this.server.close((err) => (err ? reject(err) : resolve()));
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.total++;
    this.firstAt ??= Date.now();
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
    res.once('close', this.onResponseClose);
    const auth = req.headers.authorization;
    if (auth !== undefined) this.auth.add(auth);

    if (req.method !== 'POST') {
      sendError(res, 405, `Method ${req.method ?? ''} not allowed; use POST.`, { allow: 'POST' });
      return;
    }
    const builder = ROUTES.get(pathOf(req.url));
    if (builder === undefined) {
      sendError(res, 404, `Unknown request URL: POST ${req.url ?? ''}.`);
      return;
    }
    readBody(req, (raw) => this.handle(req, res, builder, raw));
  };

  private readonly onResponseClose = (): void => {
    this.active--;
    this.lastAt = Date.now();
  };

  private handle(req: IncomingMessage, res: ServerResponse, builder: Builder, raw: string): void {
    const body = parseObject(raw);
    if (body === undefined) {
      sendError(res, 400, 'We could not parse the JSON body of your request.');
      return;
    }
    const directive = readDirective(body);
    const key = directive?.key ?? (directive === undefined ? raw : JSON.stringify(withoutSim(body)));
    const attempt = this.counts.get(key) ?? 0;
    this.counts.set(key, attempt + 1);
    const group = directive?.group;
    if (group !== undefined) {
      this.groups.set(group, this.inFlightOf(group) + 1);
      res.once('close', () => this.groups.set(group, this.inFlightOf(group) - 1));
    }

    const step = directive?.faults?.[attempt] ?? directive?.always;
    const delay = step?.delay_ms ?? directive?.latency_ms ?? this.latencyMs;
    if (delay <= 0) {
      answer(req, res, builder, body, step);
      return;
    }
    const due = performance.now() + delay;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.delayed++;
      this.lateTotal += performance.now() - due;
      answer(req, res, builder, body, step);
    }, delay);
    this.timers.add(timer);
  }
}

const ROUTES = new Map<string, Builder>([
  ['/v1/chat/completions', chatCompletion],
  ['/v1/embeddings', embeddings],
  ['/v1/completions', completion],
  ['/v1/responses', response],
  ['/v1/moderations', moderation],
  ['/v1/images/generations', image],
  ['/v1/images/edits', image],
  ['/v1/videos', video],
]);

function answer(req: IncomingMessage, res: ServerResponse, builder: Builder, body: JsonObject, step?: FaultStep): void {
  // The client may have gone away during the delay.
  if (req.socket.destroyed) return;
  if (step?.drop) {
    req.socket.destroy();
  } else if (step?.status !== undefined && (step.status < 200 || step.status >= 300)) {
    const headers = step.retry_after === undefined ? {} : { 'retry-after': String(step.retry_after) };
    sendError(res, step.status, `Simulated upstream error (HTTP ${step.status}).`, headers);
  } else if (step?.non_json) {
    send(res, 200, NOT_JSON_BODY);
  } else if (step?.invalid_json) {
    send(res, 200, TRUNCATED_JSON_BODY);
  } else if (step?.reset_mid_body) {
    sendHalfThenReset(req, res, JSON.stringify(builder(body)));
  } else {
    send(res, step?.status ?? 200, JSON.stringify(builder(body)));
  }
}

function send(res: ServerResponse, status: number, text: string, extra: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': `req_${uniqueHex()}`,
    ...extra,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, extra: OutgoingHttpHeaders = {}): void {
  const error = { message, type: errorType(status), param: null, code: null };
  send(res, status, JSON.stringify({ error }), extra);
}

function sendHalfThenReset(req: IncomingMessage, res: ServerResponse, text: string): void {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': `req_${uniqueHex()}`,
  });
  // Destroy only after the partial body reached the kernel, so the client sees headers and then a broken body.
  res.write(text.slice(0, Math.floor(text.length / 2)), () => req.socket.destroy());
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function readBody(req: IncomingMessage, done: (raw: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => done(chunks.length === 1 ? String(chunks[0]) : Buffer.concat(chunks).toString()));
}

function parseObject(raw: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function readDirective(body: JsonObject): SimDirective | undefined {
  const sim = body.x_sim;
  if (!isObject(sim)) return undefined;
  return {
    key: typeof sim.key === 'string' ? sim.key : undefined,
    latency_ms: typeof sim.latency_ms === 'number' ? sim.latency_ms : undefined,
    faults: Array.isArray(sim.faults) ? (sim.faults as FaultStep[]) : undefined,
    always: isObject(sim.always) ? (sim.always as FaultStep) : undefined,
    group: typeof sim.group === 'string' ? sim.group : undefined,
  };
}

function withoutSim(body: JsonObject): JsonObject {
  const rest = { ...body };
  delete rest.x_sim;
  return rest;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// A random per-process prefix plus a counter: unique like a UUID, without generating entropy on every request.
const ID_PREFIX = randomBytes(8).toString('hex');
let idSequence = 0;

function uniqueHex(): string {
  idSequence = (idSequence + 1) % 0x100000000;
  return ID_PREFIX + idSequence.toString(16).padStart(8, '0');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function modelOf(body: JsonObject): string {
  return typeof body.model === 'string' ? body.model : DEFAULT_MODEL;
}

function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** String form of a message content: strings as is, content parts and input items by their text. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(textOf).join('');
  if (isObject(value)) {
    if (typeof value.text === 'string') return value.text;
    return 'content' in value ? textOf(value.content) : '';
  }
  return JSON.stringify(value);
}

function contentOf(message: unknown): string {
  return isObject(message) ? textOf(message.content) : textOf(message);
}

function chatCompletion(body: JsonObject): JsonObject {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const content = `echo: ${contentOf(messages[messages.length - 1])}`;
  const promptTokens = tokens(messages.map(contentOf).join(''));
  return {
    id: `chatcmpl-${uniqueHex()}`,
    object: 'chat.completion',
    created: nowSeconds(),
    model: modelOf(body),
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: chatUsage(promptTokens, tokens(content)),
  };
}

function chatUsage(promptTokens: number, completionTokens: number): JsonObject {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

function completion(body: JsonObject): JsonObject {
  const prompts = promptsOf(body.prompt);
  const choices = prompts.map((prompt, index) => ({
    text: `echo: ${prompt}`,
    index,
    logprobs: null,
    finish_reason: 'stop',
  }));
  const promptTokens = prompts.reduce((sum, prompt) => sum + tokens(prompt), 0);
  const completionTokens = choices.reduce((sum, choice) => sum + tokens(choice.text), 0);
  return {
    id: `cmpl-${uniqueHex()}`,
    object: 'text_completion',
    created: nowSeconds(),
    model: modelOf(body),
    choices,
    usage: chatUsage(promptTokens, completionTokens),
  };
}

function promptsOf(prompt: unknown): string[] {
  const isStringList = Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string');
  return isStringList ? (prompt as string[]) : [textOf(prompt)];
}

function response(body: JsonObject): JsonObject {
  const input = Array.isArray(body.input) ? body.input : [body.input];
  const text = `echo: ${contentOf(input[input.length - 1])}`;
  const inputTokens = tokens(input.map(contentOf).join(''));
  const outputTokens = tokens(text);
  return {
    id: `resp_${uniqueHex()}`,
    object: 'response',
    created_at: nowSeconds(),
    status: 'completed',
    model: modelOf(body),
    output: [
      {
        type: 'message',
        id: `msg_${uniqueHex()}`,
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

interface EmbeddingInput {
  seed: string;
  tokens: number;
}

function embeddingInputs(input: unknown): EmbeddingInput[] {
  if (typeof input === 'string') return [{ seed: input, tokens: tokens(input) }];
  if (!Array.isArray(input)) return [];
  if (input.length > 0 && input.every((item) => typeof item === 'number')) {
    return [{ seed: input.join(','), tokens: input.length }];
  }
  return input.map((item: unknown) =>
    Array.isArray(item)
      ? { seed: item.join(','), tokens: item.length }
      : { seed: textOf(item), tokens: tokens(textOf(item)) },
  );
}

function embeddings(body: JsonObject): JsonObject {
  const inputs = embeddingInputs(body.input);
  const promptTokens = inputs.reduce((sum, input) => sum + input.tokens, 0);
  return {
    object: 'list',
    data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: vectorOf(input.seed) })),
    model: modelOf(body),
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** Eight floats in [-1, 1) derived from an FNV-1a hash of the seed, so equal inputs embed equally. */
function vectorOf(seed: string): number[] {
  let state = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193);
  const vector: number[] = [];
  for (let i = 0; i < 8; i++) {
    // xorshift32 step
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    vector.push(Math.round(((state >>> 0) / 0x80000000 - 1) * 1e6) / 1e6);
  }
  return vector;
}

function moderation(body: JsonObject): JsonObject {
  const inputs =
    Array.isArray(body.input) && body.input.every((i) => typeof i === 'string') ? body.input : [body.input];
  return {
    id: `modr-${uniqueHex()}`,
    model: modelOf(body),
    results: inputs.map(() => ({ flagged: false, categories: {}, category_scores: {} })),
  };
}

function image(body: JsonObject): JsonObject {
  const n = typeof body.n === 'number' && body.n >= 1 ? Math.min(Math.floor(body.n), 10) : 1;
  return { created: nowSeconds(), data: Array.from({ length: n }, () => ({ b64_json: 'aGVsbG8=' })) };
}

function video(body: JsonObject): JsonObject {
  return {
    id: `video_${uniqueHex()}`,
    object: 'video',
    model: modelOf(body),
    status: 'queued',
    created_at: nowSeconds(),
  };
}
