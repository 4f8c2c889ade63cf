import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { AppError } from '../../shared/errors/index.js';

/**
 * The HTTP server's `clientError` handler: a request Node's parser refuses before Express sees it
 * (malformed request line or header, headers over the limit) is answered in the one error shape
 * (400 VALIDATION_ERROR, 431 HEADERS_TOO_LARGE) instead of Node's empty 400, then the connection closes.
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
  const body = JSON.stringify(appError.toBody(randomUUID()));
  const reason = appError.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  // A response to HEAD carries no body (the parser's raw packet starts with the request line, when it has one).
  const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    `HTTP/1.1 ${appError.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
}
