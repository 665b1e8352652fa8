// Keeping Homes current on every replica: each replica remembers who opened their Home here recently (capped),
// polls a cheap change marker of the state database, and when it moved reads the state once and republishes
// each remembered person's Home — the publisher skips a Home whose content did not change. A change made on
// another replica moves the same marker, so it shows here too. No Slack, no pg: ports only.
import { gatherHome, homeFor, roundGroups, type HomeAccess, type HomeContent, type HomeSources } from './home.js';

export type Published = 'published' | 'unchanged' | 'failed';

export interface HomeRefreshDeps {
  sources: HomeSources;
  access: HomeAccess;
  /** Changes whenever anything a Home shows may have changed (audit log head, open incidents). */
  marker(): Promise<string>;
  /** Renders and publishes; `force` publishes even when the content is what this replica last published. */
  publish(content: HomeContent, force: boolean): Promise<Published>;
  /** Forget what was last published to this person (they dropped off the list). */
  forget?(user: string): void;
  now?: () => number;
  onError?: (error: unknown, what: string) => void;
}

export interface HomeRefreshOptions {
  /** How long a person is remembered after they last opened their Home or clicked on it here. */
  rememberMs: number;
  /** The most people remembered; the least recently seen are forgotten first. */
  maxPeople: number;
  /** How many Homes are published at once. */
  concurrency: number;
}

export const HOME_REFRESH_DEFAULTS: HomeRefreshOptions = {
  rememberMs: 24 * 3600_000,
  maxPeople: 2_000,
  concurrency: 4,
};

export interface HomeRefresher {
  /** The person opened their Home (or acted on it): remember them and publish theirs now. */
  show(user: string): Promise<Published>;
  /** One poll: when the marker moved (or a refresh was asked for), republish every remembered Home. */
  tick(): Promise<void>;
  /** The next tick republishes whatever the marker says (after a decision made here). */
  invalidate(): void;
  known(): string[];
}

export function createHomeRefresher(deps: HomeRefreshDeps, options: HomeRefreshOptions): HomeRefresher {
  const now = deps.now ?? Date.now;
  const known = new Map<string, number>();
  let lastMarker: string | null = null;
  let running: Promise<void> | null = null;

  const remember = (user: string) => {
    known.delete(user);
    known.set(user, now());
    for (const oldest of known.keys()) {
      if (known.size <= options.maxPeople) break;
      known.delete(oldest);
      deps.forget?.(oldest);
    }
  };
  const prune = () => {
    for (const [user, at] of known) {
      if (now() - at <= options.rememberMs) continue;
      known.delete(user);
      deps.forget?.(user);
    }
  };
  const access = (): HomeAccess => ({ ...deps.access, groups: roundGroups(deps.access.groups) });

  const round = async (): Promise<boolean> => {
    prune();
    const users = [...known.keys()];
    if (users.length === 0) return true;
    const state = await gatherHome(deps.sources);
    const shared = access();
    let allDone = true;
    for (let i = 0; i < users.length; i += options.concurrency) {
      const results = await Promise.all(
        users
          .slice(i, i + options.concurrency)
          .map(async (user) => deps.publish(await homeFor(state, user, shared), false)),
      );
      if (results.includes('failed')) allDone = false;
    }
    return allDone;
  };

  const poll = async () => {
    // Nobody's Home to keep: not even the marker is read (a replica nobody opened the Home on costs nothing).
    prune();
    if (known.size === 0) return;
    const marker = await deps.marker();
    if (marker === lastMarker) return;
    // A Home that could not be published now is tried again on the next tick, not only at the next change.
    lastMarker = (await round()) ? marker : null;
  };

  return {
    async show(user) {
      remember(user);
      const state = await gatherHome(deps.sources);
      return deps.publish(await homeFor(state, user, access()), true);
    },
    async tick() {
      if (running) return running;
      running = poll()
        .catch((error: unknown) => {
          lastMarker = null;
          deps.onError?.(error, 'home refresh');
        })
        .finally(() => {
          running = null;
        });
      return running;
    },
    invalidate() {
      lastMarker = null;
    },
    known: () => [...known.keys()],
  };
}
