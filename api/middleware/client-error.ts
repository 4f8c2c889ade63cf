import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError } from '../../shared/errors/index.js';

/**
 * The answers of requests Node's HTTP server refuses before Express sees them, in the one error
 * shape (docs/api.md, Errors) rather than Node's empty ones: a malformed request line or header
 * (400 VALIDATION_ERROR), headers over the limit (431 HEADERS_TOO_LARGE), a CONNECT (405
 * METHOD_NOT_ALLOWED), an Expect other than 100-continue (417 EXPECTATION_FAILED), an HTTP/1.1
 * request without Host (400 VALIDATION_ERROR). Each carries its request_id in X-Request-Id too.
 */

/** How long a connection answered by {@link answerRaw} may stay open for its peer to close its side, ms. */
const CLOSE_GRACE_MS = 5000;

/**
 * Writes `error` as a whole HTTP/1.1 answer on `socket` (no body for a HEAD) and ends its side.
 * Whatever the peer sends meanwhile is read and dropped; the connection closes when the peer ends
 * its side, or after {@link CLOSE_GRACE_MS} (closing at once with unread bytes pending would reset
 * it, and the peer could lose the answer); a reset ends it without an unhandled `error`.
 */
function answerRaw(socket: Duplex, error: AppError, reason: string, head: boolean, extraHeaders = ''): void {
  const requestId = randomUUID();
  const body = JSON.stringify(error.toBody(requestId));
  socket.on('error', () => socket.destroy());
  socket.once('end', () => socket.destroy());
  const grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  grace.unref();
  socket.once('close', () => clearTimeout(grace));
  socket.resume();
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
}

/** The sockets whose clientError is answered or waiting: Node emits it again for each further chunk the parser refuses. */
const refusedSockets = new WeakSet<Duplex>();

/** The response being written on `socket` (Node keeps it as `_httpMessage`; node:_http_server's own clientError default reads it so). */
function responseOn(socket: Duplex): ServerResponse | undefined {
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * Calls `send` once no complete request on `socket` waits for its response: after the one being
 * written finishes, and after each pipelined one Node gives the socket to next. A response whose
 * request is not complete (the bytes that did not parse are its own body) does not wait.
 */
function afterAnswered(socket: Duplex, send: () => void): void {
  const res = responseOn(socket);
  if (!res || res.writableFinished || !res.req?.complete) {
    send();
    return;
  }
  res.once('finish', () => {
    // Node's own finish handler, which ran first, gave the socket to the next pipelined response, if any.
    if (socket.writable) setImmediate(() => (socket.writable ? afterAnswered(socket, send) : socket.destroy()));
    else socket.destroy();
  });
  res.once('close', () => {
    if (!res.writableFinished) socket.destroy();
  });
}

/**
 * The server's `clientError` handler (Node's parser refused the bytes), then the connection
 * closes. When requests before them on the connection ran and their responses are still being
 * written (pipelined requests followed by bytes that do not parse), those go out first: the 400
 * follows them rather than replacing them.
 */
export function onClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (refusedSockets.has(socket)) return;
  refusedSockets.add(socket);
  const appError =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE', 'request headers are too large', {})
      : new AppError('VALIDATION_ERROR', 'malformed HTTP request', { field: 'request', reason: err.code ?? 'parse error' });
  const reason = appError.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  // A response to HEAD carries no body (the parser's raw packet starts with the request line, when it has one).
  const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  afterAnswered(socket, () => answerRaw(socket, appError, reason, head));
}

/** The methods some route of the API takes: the Allow header of the 405 to a CONNECT (RFC 9110, section 15.5.6). */
const SERVED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';

/** The server's `connect` handler: fnqueue is no proxy, so a CONNECT answers 405 and the connection closes. */
export function onConnect(_req: IncomingMessage, socket: Duplex): void {
  answerRaw(socket, new AppError('METHOD_NOT_ALLOWED', 'method CONNECT is not allowed', { method: 'CONNECT', allowed_methods: SERVED_METHODS.split(', ') }), 'Method Not Allowed', false, `Allow: ${SERVED_METHODS}\r\n`);
}

/** Answers `req` with `error` in the error shape on its own response, and closes the connection. */
function answerError(req: IncomingMessage, res: ServerResponse, error: AppError): void {
  const requestId = randomUUID();
  const body = JSON.stringify(error.toBody(requestId));
  res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Request-Id': requestId, Connection: 'close' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The server's `checkExpectation` handler: an Expect header other than 100-continue gets 417
 * (RFC 9110, section 10.1.1) in the error shape, where Node would send it empty.
 */
export function onCheckExpectation(req: IncomingMessage, res: ServerResponse): void {
  answerError(req, res, new AppError('EXPECTATION_FAILED', 'only the expectation 100-continue is supported', { field: 'Expect' }));
}

/**
 * The server's request listener around `app`: an HTTP/1.1 request without a Host header (RFC 9112,
 * section 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
 * message that lacks a Host header field") gets 400 VALIDATION_ERROR naming Host. The server is
 * created with Node's own check off (`requireHostHeader: false`), which would answer it with an
 * empty 400; here it costs a request one property read, not a layer of the app.
 */
export function requiringHost(app: RequestListener): RequestListener {
  return (req, res) => {
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      answerError(req, res, new AppError('VALIDATION_ERROR', 'an HTTP/1.1 request needs a Host header', { field: 'Host' }));
      return;
    }
    app(req, res);
  };
}
