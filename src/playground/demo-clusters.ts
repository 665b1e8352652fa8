// The demo's clusters file: two cluster names on the one embedded server. `default` keeps today's rules
// (one approver, no escalation) so the walkthrough is unchanged; `payments` needs two approvers to terminate
// and, when nobody decides within 10 s, tells the on-call user group. Both connections come from DATABASE_URL
// (urlEnv), so no password is written to disk; `payments` does not watch, or every alert would come twice.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ON_CALL } from './people.js';

/** The cluster with its own approval routing. */
export const QUORUM_CLUSTER = 'payments';
/** Its escalation delay: the shortest the settings allow. */
export const ESCALATE_AFTER = '10s';

export function demoClustersYaml(): string {
  return [
    '# Written by the pgsessions playground: two names for the demo database, each with its own approval routing.',
    'clusters:',
    '  - name: default',
    '    urlEnv: DATABASE_URL',
    `  - name: ${QUORUM_CLUSTER}`,
    '    urlEnv: DATABASE_URL',
    '    watch: { channel: "off" }',
    '    quorum: { terminate: 2, cancel: 1 }',
    `    escalate: { after: ${ESCALATE_AFTER}, to: [${ON_CALL.id}] }`,
    '',
  ].join('\n');
}

export interface DemoClusters {
  /** For PGSESSIONS_CLUSTERS. */
  path: string;
  remove(): Promise<void>;
}

/** Writes the file into a fresh private directory, removed when the playground stops. */
export async function writeDemoClusters(): Promise<DemoClusters> {
  const dir = await mkdtemp(join(tmpdir(), 'pgsessions-playground-'));
  const path = join(dir, 'clusters.yml');
  await writeFile(path, demoClustersYaml(), { mode: 0o600 });
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}
