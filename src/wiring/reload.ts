// What a new clusters file does once it is read and checked: the watcher moves to the new set (`swap`), the
// pending requests of a removed cluster expire with a sentence saying why, and the reload is audited by name,
// never by connection string.
import { hostname } from 'node:os';
import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import { clusterRemovedSentence, type ClusterSetChange } from '../domain/cluster-set.js';
import type { RequestMessagesPort } from '../domain/request-service.js';
import type { Config } from '../config.js';
import { type ClusterSettings, fingerprintsOf } from '../live-clusters.js';
import { expireRemovedCluster } from '../postgres/cluster-removal.js';
import type { StateStore } from '../postgres/state-store.js';

/** Who this process is in the audit of a reload (each replica reloads, and audits, on its own). */
const REPLICA = `${hostname()}:${process.pid}`;

/** The part of the settings a clusters file changes, with a fingerprint per cluster to tell what changed. */
export function settingsOf(c: Config): { value: ClusterSettings; fingerprints: Map<string, string> } {
  const value: ClusterSettings = { clusters: c.clusters, watch: c.watch };
  return { value, fingerprints: fingerprintsOf(value) };
}

export interface ReloadParts {
  /** Stops the watcher, replaces the cluster set and starts watching the new one. */
  swap(next: ClusterSettings, change: ClusterSetChange): Promise<void>;
  statePool: pg.Pool;
  state: Pick<StateStore, 'appendIn' | 'appendAudit'>;
  requestMessages: Pick<RequestMessagesPort, 'update'>;
  client: WebClient;
}

/** The `apply` of watchClustersFile. */
export function applyReload(p: ReloadParts): (next: ClusterSettings, change: ClusterSetChange) => Promise<void> {
  return async (next, change) => {
    await p.swap(next, change);
    for (const name of change.removed) {
      for (const r of await expireRemovedCluster(p.statePool, p.state.appendIn, name)) {
        await p.requestMessages.update(r).catch(() => undefined);
        if (r.messageTs)
          await p.client.chat
            .postMessage({
              channel: r.channel,
              thread_ts: r.messageTs,
              text: `<@${r.requester}> ${clusterRemovedSentence(r.cluster)}`,
            })
            .catch(() => undefined);
      }
    }
    await p.state.appendAudit({
      requestId: null,
      event: 'clusters_reloaded',
      actor: null,
      cluster: null,
      details: { ...change, replica: REPLICA },
    });
  };
}
