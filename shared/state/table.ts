// Shared state for all instances of the Function app: one Azure Table (in the app's own
// AzureWebJobsStorage account), rows read and written with optimistic concurrency
// (ETags). Every call is bounded by a timeout and never retried here: callers decide what
// a failure means (docs/ha.md, docs/tenants.md), and a down store must not hold writes.

import { type TableEntity, TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { createCredential } from '../identity/credential';
import type { IdentityConfig } from '../identity/identity-config';
import type { StateConfig } from './state-config';

export type Entity = TableEntity<Record<string, string | number | boolean>>;

export interface Stored {
  entity: Entity;
  etag: string;
}

export interface StateTable {
  get(partitionKey: string, rowKey: string): Promise<Stored | undefined>;
  /** the new ETag, or 'conflict' when the row exists already */
  insert(entity: Entity): Promise<string>;
  /** the new ETag, or 'conflict' when the row changed since `etag` was read */
  replace(entity: Entity, etag: string): Promise<string>;
  upsert(entity: Entity): Promise<void>;
  list(partitionKey: string): Promise<Entity[]>;
  /** deletes the row if it is there */
  remove(partitionKey: string, rowKey: string): Promise<void>;
}

export type StateConnection = { kind: 'connectionString'; value: string } | { kind: 'identity'; url: string; credential: TokenCredential };

export function openStateTable(conn: StateConnection, table: string, timeoutMs: number): StateTable {
  // No SDK retries: a slow or down store is answered by the caller's fallback, not by waiting.
  const options = {
    retryOptions: { maxRetries: 0 },
    allowInsecureConnection:
      conn.kind === 'connectionString' && /TableEndpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]|UseDevelopmentStorage=true/i.test(conn.value),
  };
  const client =
    conn.kind === 'connectionString'
      ? TableClient.fromConnectionString(conn.value, table, options)
      : new TableClient(conn.url, table, conn.credential, options);
  const signal = (): { abortSignal: AbortSignal } => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  let created: Promise<void> | undefined;
  const ensureTable = (): Promise<void> => {
    created ??= client.createTable(signal()).catch((err: unknown) => {
      created = undefined;
      throw err;
    });
    return created;
  };
  // The table is created on first use, and again if it vanished (an emulator restarted empty).
  const withTable = async <T>(op: () => Promise<T>): Promise<T> => {
    await ensureTable();
    try {
      return await op();
    } catch (err) {
      if (statusOf(err) !== 404 || !/TableNotFound/i.test(String((err as { code?: string }).code ?? (err as Error).message))) throw err;
      created = undefined;
      await ensureTable();
      return op();
    }
  };
  return {
    get: (pk, rk) =>
      withTable(async () => {
        try {
          const e = await client.getEntity<Record<string, string | number | boolean>>(pk, rk, signal());
          return { entity: e as Entity, etag: e.etag };
        } catch (err) {
          if (statusOf(err) === 404 && !/TableNotFound/i.test(String((err as { code?: string }).code))) return undefined;
          throw err;
        }
      }),
    insert: (entity) =>
      withTable(async () => {
        try {
          return (await client.createEntity(entity, signal())).etag ?? '';
        } catch (err) {
          if (statusOf(err) === 409) return 'conflict';
          throw err;
        }
      }),
    replace: (entity, etag) =>
      withTable(async () => {
        try {
          return (await client.updateEntity(entity, 'Replace', { etag, ...signal() })).etag ?? '';
        } catch (err) {
          if (statusOf(err) === 412 || statusOf(err) === 404) return 'conflict';
          throw err;
        }
      }),
    upsert: (entity) =>
      withTable(async () => {
        await client.upsertEntity(entity, 'Replace', signal());
      }),
    list: (pk) =>
      withTable(async () => {
        const out: Entity[] = [];
        const filter = `PartitionKey eq '${pk.replace(/'/g, "''")}'`;
        for await (const e of client.listEntities<Record<string, string | number | boolean>>({ queryOptions: { filter }, ...signal() })) out.push(e as Entity);
        return out;
      }),
    remove: (pk, rk) =>
      withTable(async () => {
        try {
          await client.deleteEntity(pk, rk, signal());
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
      }),
  };
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

/** Table keys may not hold / \ # ? or control characters; anything else passes through readable. */
export function tableKey(s: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
  return s.replace(/[/\\#?%\u0000-\u001f\u007f-\u009f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The table named by the settings, reached with the connection string or the relay's identity. */
export function openConfiguredStateTable(cfg: StateConfig, identity: IdentityConfig): StateTable {
  if (cfg.source.kind === 'connectionString') return openStateTable(cfg.source, cfg.table, cfg.timeoutMs);
  const credential = createCredential(identity);
  // loadStateConfig refuses an identity-based connection with IDENTITY_TYPE=none
  if (!credential) throw new Error('an identity-based AzureWebJobsStorage connection needs an identity');
  return openStateTable({ kind: 'identity', url: cfg.source.url, credential }, cfg.table, cfg.timeoutMs);
}
