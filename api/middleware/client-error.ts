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

/** Writes `error` as a whole HTTP/1.1 answer on `socket` and closes it; no body for a HEAD. */
function answerRaw(socket: Duplex, error: AppError, reason: string, head: boolean): void {
  const requestId = randomUUID();
  const body = JSON.stringify(error.toBody(requestId));
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
}

/**
 * The server's `clientError` handler (Node's parser refused the bytes), then the connection
 * closes. When a response to an earlier request on the connection is still being written (a
 * pipelined request followed by bytes that do not parse), it goes out first: the 400 follows it
 * rather than replacing it, and the earlier request, which ran, is answered.
 */
export function onClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const appError =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE', 'request headers are too large', {})
      : new AppError('VALIDATION_ERROR', 'malformed HTTP request', { field: 'request', reason: err.code ?? 'parse error' });
  const reason = appError.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  // A response to HEAD carries no body (the parser's raw packet starts with the request line, when it has one).
  const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  // Node keeps the response being written on this socket as `_httpMessage` (node:_http_server's own
  // clientError default looks at it the same way).
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight && !inFlight.writableFinished) {
    inFlight.once('finish', () => (socket.writable ? answerRaw(socket, appError, reason, head) : socket.destroy()));
    inFlight.once('close', () => socket.writable || socket.destroy());
    return;
  }
  answerRaw(socket, appError, reason, head);
}

/** The server's `connect` handler: fnqueue is no proxy, so a CONNECT answers 405 and the connection closes. */
export function onConnect(_req: IncomingMessage, socket: Duplex): void {
  answerRaw(socket, new AppError('METHOD_NOT_ALLOWED', 'method CONNECT is not allowed', { method: 'CONNECT' }), 'Method Not Allowed', false);
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
