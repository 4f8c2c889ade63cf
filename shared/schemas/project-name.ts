import { z } from 'zod';
import { POOL_PATTERN } from '../queue/names.js';

/**
 * A project name (the project FaaS API reference's projects; docs/functions.md#projects): 1-63
 * lowercase letters, digits, `_` or `-`, starting with a letter or digit; the rule of pool names.
 * One rule everywhere: `POST /functions` and `PUT /functions/{id}` (`project`), the `/projects/{name}`
 * routes and the multipart deploy, so every project a function names can be read, started and stopped.
 */
export const PROJECT_NAME_PATTERN = POOL_PATTERN;

/** The rule of {@link PROJECT_NAME_PATTERN} in words, for messages and the API document. */
export const PROJECT_NAME_RULE = '1-63 lowercase letters, digits, _ or -, starting with a letter or digit';

/** A project name, as every route takes it; messages read `must be <rule>`. */
export const ProjectNameSchema = z
  .string({ error: 'must be a string' })
  .regex(PROJECT_NAME_PATTERN, { error: `must be ${PROJECT_NAME_RULE}` });
