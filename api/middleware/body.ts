import express, { type NextFunction, type Request, type Response } from 'express';
import { AppError } from '../../shared/errors/index.js';
import { bodyReadingFor } from '../routes/index.js';

/** Largest body accepted on a route that takes none (GET /jobs/{id}, probes, docs): 413 beyond. */
export const NO_BODY_LIMIT_BYTES = 4096;

/** Deepest nesting of objects and arrays accepted in a JSON body (the top level is depth 1). */
export const MAX_JSON_DEPTH = 64;

/** Keys refused at any depth of a JSON body: they pollute prototypes when a body is merged or assigned. */
const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The path of a key for error details, dotted as zod's fields are (`params.value.0.__proto__`);
 * `body` for the whole body.
 */
function pathOf(path: readonly (string | number)[]): string {
  return path.length ? path.join('.') : 'body';
}

/**
 * Walks a parsed JSON body once and refuses prototype-polluting keys and nesting deeper than {@link MAX_JSON_DEPTH}.
 * @throws AppError VALIDATION_ERROR with `details.field` the offending path.
 */
export function assertSafeJson(body: unknown): void {
  if (body === null || typeof body !== 'object') return;
  walkSafe(body, []);
}

/**
 * One node of {@link assertSafeJson}: its depth, then its own keys, then its children, the last
 * first (the order of the walk's former explicit stack, so the same offence is named first).
 * `path` is the node's path, extended and restored in place (no array per node); at most
 * {@link MAX_JSON_DEPTH} levels deep, so the recursion is bounded.
 */
function walkSafe(value: object, path: (string | number)[]): void {
  if (path.length >= MAX_JSON_DEPTH) {
    throw new AppError('VALIDATION_ERROR', `request body nests deeper than ${MAX_JSON_DEPTH} levels at ${pathOf(path)}`, {
      field: pathOf(path),
      max_depth: MAX_JSON_DEPTH,
    });
  }
  if (Array.isArray(value)) {
    for (let i = value.length - 1; i >= 0; i--) {
      const child: unknown = value[i];
      if (child === null || typeof child !== 'object') continue;
      path.push(i);
      walkSafe(child, path);
      path.pop();
    }
    return;
  }
  const keys = Object.keys(value);
  for (const key of keys) {
    if (UNSAFE_KEYS.has(key)) {
      const field = pathOf([...path, key]);
      throw new AppError('VALIDATION_ERROR', `${field} is not allowed (prototype key)`, { field });
    }
  }
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!;
    const child: unknown = (value as Record<string, unknown>)[key];
    if (child === null || typeof child !== 'object') continue;
    path.push(key);
    walkSafe(child, path);
    path.pop();
  }
}

/**
 * Bytes of a BODY_LIMIT value (`100kb`, `1mb`: the forms config.ts accepts; 1 kb = 1024 b, as the
 * `bytes` package reads them). body-parser gets this number too, so it and the check of a declared
 * length read the limit alike.
 * @throws Error for another form (config.ts refuses it at startup).
 */
function sizeInBytes(limit: string): number {
  const m = /^(\d+)(b|kb|mb)$/i.exec(limit);
  if (!m) throw new Error(`not a size such as 100kb or 1mb: ${limit}`);
  return Number(m[1]) * { b: 1, kb: 1024, mb: 1024 * 1024 }[m[2]!.toLowerCase() as 'b' | 'kb' | 'mb'];
}

/** The 413 of a body over `limit` bytes (`length`: what was declared, or counted so far). */
function tooLarge(limit: number, length: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`, { limit_bytes: limit, length_bytes: length });
}

/**
 * Reads (and drops) the body of a request to a route that takes none, without parsing or
 * decompressing it: a `Content-Length` over `limit` is refused at once; a body without one
 * (chunked) is counted as it arrives and refused as soon as it passes `limit`. The 413 is answered
 * without waiting for the rest of the body, which Node then reads off and drops (keep-alive stays
 * usable; Node's request timeout bounds a body that never ends). A body within the limit is read to
 * its end, then the route runs.
 * @param next called once: with nothing, with a PAYLOAD_TOO_LARGE AppError, or with a VALIDATION_ERROR when the client aborts.
 */
function dropSmallBody(req: Request, limit: number, next: NextFunction): void {
  req.body = undefined;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    next(tooLarge(limit, Number(declared)));
    return;
  }
  if (req.headers['transfer-encoding'] === undefined && !(Number(declared) > 0)) {
    next();
    return;
  }
  let seen = 0;
  let done = false;
  const finish = (err?: unknown) => {
    if (done) return;
    done = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('aborted', onAborted);
    req.off('error', onAborted);
    next(err);
  };
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) finish(tooLarge(limit, seen));
  };
  const onEnd = () => finish();
  const onAborted = () => finish(new AppError('VALIDATION_ERROR', 'request aborted', { field: 'body' }));
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', onAborted);
}

/**
 * Body parsing per route, as each route's declaration says (`body`, api/routes/route.ts; the method's
 * own declaration, api/routes/index.ts bodyReadingFor): a `json` route reads any content type as
 * JSON up to `bodyLimit` (so `curl -d '{"number": 17}'` works without a header), then refuses
 * prototype keys and deep nesting; a `stream` route's body is left to its handler; every other
 * request (no body taken, a method the path does not declare, an unknown path) reads no body and
 * refuses one over {@link NO_BODY_LIMIT_BYTES} with 413 before anything parses it (docs/security.md, Bodies).
 */
export function bodyParsing(bodyLimit: string) {
  const limitBytes = sizeInBytes(bodyLimit);
  const json = express.json({ limit: limitBytes, type: () => true, strict: false });
  return (req: Request, res: Response, next: NextFunction): void => {
    const reading = bodyReadingFor(req.method, req.path);
    if (reading === 'stream') {
      next();
      return;
    }
    if (reading === 'none') {
      dropSmallBody(req, NO_BODY_LIMIT_BYTES, next);
      return;
    }
    // A declared length over the limit is refused at once: body-parser would first read the whole
    // body off (and a client that sends it slowly, or never, would wait for its answer). Not for a
    // compressed body, whose limit counts the bytes once decompressed (docs/security.md, Bodies).
    const declared = req.headers['content-length'];
    const encoding = req.headers['content-encoding'];
    if (declared !== undefined && Number(declared) > limitBytes && (encoding === undefined || encoding.toLowerCase() === 'identity')) {
      next(tooLarge(limitBytes, Number(declared)));
      return;
    }
    json(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      try {
        assertSafeJson(req.body);
      } catch (e) {
        next(e);
        return;
      }
      next();
    });
  };
}
