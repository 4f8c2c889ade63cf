/**
 * The client's one reader of the environment: FNQUEUE_URL (the API's base URL), FNQUEUE_API_KEY
 * (an API key) and FNQUEUE_TOKEN (a JWT). Options given in code or on the command line win.
 */
export interface EnvOptions {
  baseUrl?: string;
  apiKey?: string;
  token?: string;
}

/** The client options set in `env` (blank values count as unset). */
export function optionsFromEnv(env: Record<string, string | undefined> = process.env): EnvOptions {
  const value = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);
  return { baseUrl: value('FNQUEUE_URL'), apiKey: value('FNQUEUE_API_KEY'), token: value('FNQUEUE_TOKEN') };
}
