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
  /** After a round that could not publish every Home (Slack refusing), an unchanged marker waits this long. */
  retryMs: number;
}

export const HOME_REFRESH_DEFAULTS: HomeRefreshOptions = {
  rememberMs: 24 * 3600_000,
  maxPeople: 2_000,
  concurrency: 4,
  retryMs: 10_000,
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

/** Who opened their Home here recently: least recently seen first, capped, forgotten after rememberMs. */
function knownPeople(options: HomeRefreshOptions, now: () => number, forget: (user: string) => void) {
  const known = new Map<string, number>();
  return {
    map: known,
    remember(user: string) {
      known.delete(user);
      known.set(user, now());
      for (const oldest of known.keys()) {
        if (known.size <= options.maxPeople) break;
        known.delete(oldest);
        forget(oldest);
      }
    },
    prune() {
      for (const [user, at] of known) {
        if (now() - at <= options.rememberMs) continue;
        known.delete(user);
        forget(user);
      }
    },
  };
}

export function createHomeRefresher(deps: HomeRefreshDeps, options: HomeRefreshOptions): HomeRefresher {
  const now = deps.now ?? Date.now;
  const people = knownPeople(options, now, (user) => deps.forget?.(user));
  const known = people.map;
  const { remember, prune } = people;
  let lastMarker: string | null = null;
  // The marker of a round that failed, and when it may be tried again (a change is tried at once).
  let failed: { marker: string; retryAt: number } | null = null;
  let running: Promise<void> | null = null;

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
    if (failed?.marker === marker && now() < failed.retryAt) return;
    // A Home that could not be published is tried again after retryMs, not only at the next change.
    const done = await round();
    lastMarker = done ? marker : null;
    failed = done ? null : { marker, retryAt: now() + options.retryMs };
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
