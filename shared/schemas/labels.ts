import { z } from 'zod';

/** A label key: letters, digits, `_ . / -`, 1 to 63 characters (Kubernetes-like, the hetuflow scheduler API reference's agent labels). */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/;
/** Most labels one worker or filter may carry. */
export const MAX_LABELS = 32;
/** A label value: letters, digits, `_ . -`, up to 63 characters (may be empty). */
export const LABEL_VALUE_PATTERN = /^[A-Za-z0-9_.-]{0,63}$/;

/** Worker labels, e.g. `{ pool: "gpu", region: "eu" }` (the hetuflow scheduler API reference: `labels: { env, region }`). */
export type Labels = Record<string, string>;

/**
 * `key=value` pairs separated by commas (`pool=gpu,region=eu`), each split at its first `=`; empty
 * parts are skipped; a repeated key is an error. Messages name the pair, not its position.
 */
export const LabelListSchema = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p !== ''))
  .superRefine((pairs, ctx) => {
    if (pairs.length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `must hold at most ${MAX_LABELS} labels` });
    const seen = new Set<string>();
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (eq < 1) ctx.addIssue({ code: 'custom', message: `"${pair}" must be key=value` });
      else if (!LABEL_KEY_PATTERN.test(key)) ctx.addIssue({ code: 'custom', message: `key "${key}" must be 1-63 letters, digits, _ . / - starting with a letter or digit` });
      else if (!LABEL_VALUE_PATTERN.test(value)) ctx.addIssue({ code: 'custom', message: `value "${value}" must be up to 63 letters, digits, _ . -` });
      else if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `key "${key}" is repeated` });
      seen.add(key);
    }
  })
  .transform((pairs): Labels => Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])));
