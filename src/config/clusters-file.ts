// The clusters file (PGSESSIONS_CLUSTERS): YAML naming each managed cluster, its connection (or the
// environment variable holding it), who may request, approve and view there, and its own watch settings.
// parseClustersFile is pure (text and environment in, clusters or every problem out), so that a reload can
// check a new file before anything changes.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CLUSTER_NAME, describe, postgresUrl, principals } from './schema.js';
import { type WatchSettings, watchSettings } from './watch.js';
import { type ApprovalRouting, DEFAULT_ROUTING } from '../domain/routing.js';
import { clusterRouting, clusterRoutingEntry } from './routing.js';

export interface ClusterConfig {
  name: string;
  url: string;
  /** Who may request here; null means the global PGSESSIONS_REQUESTERS rule. */
  requesters: string[] | null;
  /** Who may approve here; null means the global PGSESSIONS_APPROVERS. */
  approvers: string[] | null;
  /** Who may look at sessions here; null means the global PGSESSIONS_VIEWERS. */
  viewers: string[] | null;
  /** This cluster's own quorum, escalation and break-glass (src/domain/routing.ts); absent: the global ones. */
  routing?: ApprovalRouting;
}

const asText = z.union([z.string(), z.number()]).transform(String).optional();

const clusterFileEntry = z
  .object({
    name: z.string().regex(CLUSTER_NAME, 'cluster name: letters, digits, _ . - (1-63 characters)'),
    url: postgresUrl.optional(),
    /** Name of an environment variable holding the connection string, to keep passwords out of the file. */
    urlEnv: z.string().optional(),
    requesters: principals().optional(),
    approvers: principals().optional(),
    viewers: principals().optional(),
    /** This cluster's own watch settings, same words as PGSESSIONS_WATCH_* (channel, interval, lockWait, …). */
    watch: z
      .object({
        channel: z.string().optional(),
        interval: asText,
        lockWait: asText,
        idleInTransaction: asText,
        active: asText,
        connections: z.string().optional(),
        replicationLag: asText,
      })
      .strict()
      .optional(),
    ...clusterRoutingEntry,
  })
  .strict();

const clustersFile = z.union([
  z.object({ clusters: z.array(clusterFileEntry).min(1) }).strict(),
  z.array(clusterFileEntry).min(1),
]);

/** The clusters a file names with the watch settings of each, or every problem with it (nothing half-read). */
export type ClustersFileResult =
  | { ok: true; clusters: ClusterConfig[]; watch: Record<string, WatchSettings> }
  /** watch: of the entries that could be read, so that a caller can name its own problems with them too. */
  | { ok: false; problems: string[]; watch: Record<string, WatchSettings> };

export interface ClustersFileOptions {
  /** Where the text came from, for the messages. */
  path: string;
  /** The global watch settings a cluster's own `watch:` goes on top of. */
  watch: WatchSettings;
  /** The global approval routing a cluster's own `quorum:`, `escalate:` and `breakGlass:` go on top of. */
  routing?: ApprovalRouting;
}

/** Checks a clusters file's text: urlEnv is looked up in `env`; every problem is named, none stops the rest. */
export function parseClustersFile(
  text: string,
  env: Record<string, string | undefined>,
  { path, watch, routing }: ClustersFileOptions,
): ClustersFileResult {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    return { ok: false, problems: [cannotRead(path, error)], watch: {} };
  }
  const parsed = clustersFile.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problems: describe(parsed.error.issues, `PGSESSIONS_CLUSTERS (${path}): `), watch: {} };
  }
  const problems: string[] = [];
  const watchBy: Record<string, WatchSettings> = {};
  const clusters: ClusterConfig[] = [];
  const seen = new Set<string>();
  for (const entry of Array.isArray(parsed.data) ? parsed.data : parsed.data.clusters) {
    if (seen.has(entry.name)) problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} is named twice`);
    seen.add(entry.name);
    const url = entry.url ?? (entry.urlEnv ? env[entry.urlEnv] : undefined);
    if (!url) {
      problems.push(
        `PGSESSIONS_CLUSTERS: cluster ${entry.name} needs url, or urlEnv naming a set environment variable`,
      );
      continue;
    }
    if (!postgresUrl.safeParse(url).success) {
      problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} connection must be a postgres:// connection string`);
      continue;
    }
    watchBy[entry.name] = entry.watch
      ? watchSettings(entry.watch, watch, `PGSESSIONS_CLUSTERS: cluster ${entry.name} watch: `, problems)
      : watch;
    const { name, requesters, approvers, viewers } = entry;
    const own = clusterRouting(entry, routing ?? DEFAULT_ROUTING, `PGSESSIONS_CLUSTERS: cluster ${name} `, problems);
    clusters.push({
      name,
      url,
      requesters: requesters ?? null,
      approvers: approvers ?? null,
      viewers: viewers ?? null,
      ...(own ? { routing: own } : {}),
    });
  }
  return problems.length > 0 ? { ok: false, problems, watch: watchBy } : { ok: true, clusters, watch: watchBy };
}

/** Reads the file at `path` and checks it (parseClustersFile); a file that cannot be read is one problem. */
export function loadClustersFile(
  path: string,
  env: Record<string, string | undefined>,
  watch: WatchSettings,
  routing?: ApprovalRouting,
): ClustersFileResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { ok: false, problems: [cannotRead(path, error)], watch: {} };
  }
  return parseClustersFile(text, env, { path, watch, routing });
}

function cannotRead(path: string, error: unknown): string {
  return `PGSESSIONS_CLUSTERS cannot read ${path}: ${(error as Error).message.split('\n')[0]}`;
}
