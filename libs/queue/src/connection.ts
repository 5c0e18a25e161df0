// Where the queue is: a redis:// or rediss:// URL, turned into BullMQ's connection options. Secrets may stay
// off the command line (where `ps` shows them): DPKD_REDIS_PASSWORD, DPKD_REDIS_TLS_CA.
import { readFileSync } from 'node:fs';

/** The --queue value is not a usable Redis URL: a one-line error naming the option and the fix (exit 2). */
export class InvalidQueueUrl extends Error {
  override name = 'InvalidQueueUrl';
}

export interface QueueConnection {
  /** ioredis options as BullMQ takes them. */
  connection: {
    host: string;
    port: number;
    db?: number;
    username?: string;
    password?: string;
    tls?: { ca?: Buffer; servername?: string };
    /** BullMQ requires null for workers (blocking commands must wait, not fail after n retries). */
    maxRetriesPerRequest: null;
    /** Keep reconnecting while Redis is down; the executor and the worker decide when to give up. */
    retryStrategy: (times: number) => number;
  };
  /** The BullMQ key prefix (all dpkd queues of one deployment share it): `?prefix=` of the URL, default "dpkd". */
  prefix: string;
  /** host:port (and db), never the password: for messages and logs. */
  describe: string;
}

/**
 * Parses `redis://[user:password@]host:port[/db][?prefix=name]` (`rediss://` for TLS). The password may come from
 * DPKD_REDIS_PASSWORD instead, the TLS CA bundle from the file DPKD_REDIS_TLS_CA.
 */
export function parseQueueUrl(raw: string, env: NodeJS.ProcessEnv = process.env): QueueConnection {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidQueueUrl(`--queue must be a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS), got "${raw}"`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidQueueUrl(`--queue must start with redis:// or rediss:// (TLS), got "${url.protocol}//" in "${raw}"`);
  }
  if (!url.hostname) throw new InvalidQueueUrl(`--queue has no host: "${raw}" (e.g. redis://127.0.0.1:6379)`);
  const port = url.port ? Number(url.port) : 6379;
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? undefined : Number(dbText);
  if (db !== undefined && !(Number.isInteger(db) && db >= 0))
    throw new InvalidQueueUrl(`--queue: the database "/${dbText}" must be a number (redis://host:port/0)`);
  const prefix = url.searchParams.get('prefix') ?? 'dpkd';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix))
    throw new InvalidQueueUrl(`--queue: prefix "${prefix}" must be 1-64 letters, digits, '_' or '-'`);
  const password = url.password ? decodeURIComponent(url.password) : env.DPKD_REDIS_PASSWORD || undefined;
  let tls: QueueConnection['connection']['tls'];
  if (url.protocol === 'rediss:') {
    tls = { servername: url.hostname };
    const caFile = env.DPKD_REDIS_TLS_CA;
    if (caFile) {
      try {
        tls.ca = readFileSync(caFile);
      } catch (error) {
        throw new InvalidQueueUrl(`DPKD_REDIS_TLS_CA: cannot read the CA bundle ${caFile} (${(error as Error).message})`);
      }
    }
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    connection: {
      host,
      port,
      ...(db !== undefined ? { db } : {}),
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(password ? { password } : {}),
      ...(tls ? { tls } : {}),
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => Math.min(200 * times, 2000),
    },
    prefix,
    describe: `${url.protocol}//${url.host}${db !== undefined ? `/${db}` : ''}`,
  };
}
