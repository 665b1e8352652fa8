// Who may use pgsessions at all: people of the workspace it is installed in (or of workspaces named in
// PGSESSIONS_ALLOWED_TEAMS), and never guest accounts. In a Slack Connect channel anyone from the other
// organisation can type the command or press a button; they are refused unless their workspace is named.

/** Where a command or click came from, as the signed payload says. */
export interface Origin {
  user: string;
  /** Every team ID the payload names for the person and the place (user.team_id, team.id, team_id, user_team). */
  teams: string[];
  enterprise: string | null;
}

/** What Slack says about a person's account. */
export interface Account {
  /** A multi-channel or single-channel guest (users.info is_restricted / is_ultra_restricted). */
  guest: boolean;
  /** The person's own workspace, when Slack says it. */
  team: string | null;
}

export interface PeoplePort {
  /** The workspace the app is installed in (auth.test), or null while Slack cannot say. */
  home(): Promise<string | null>;
  /** The person's account, or null when Slack could not be asked: then nobody is let in (fail closed). */
  account(user: string): Promise<Account | null>;
}

export type OriginRefusal = 'foreign_workspace' | 'guest' | 'unverified';
export type OriginVerdict = { ok: true } | { ok: false; code: OriginRefusal };

export const ORIGIN_MESSAGES: Record<OriginRefusal, string> = {
  foreign_workspace:
    'pgsessions answers only people of the workspace it is installed in (PGSESSIONS_ALLOWED_TEAMS names any other). Nothing was done.',
  guest: 'pgsessions does not answer guest accounts. Nothing was done.',
  unverified: 'pgsessions could not check your account with Slack just now, so it did nothing. Try again in a moment.',
};

/** A team is welcome when it is the home workspace, or named (by team ID, or by its Enterprise Grid org ID). */
export function teamAllowed(
  team: string,
  home: string,
  allowed: readonly string[],
  enterprise: string | null,
): boolean {
  return team === home || allowed.includes(team) || (enterprise !== null && allowed.includes(enterprise));
}

export async function checkOrigin(
  origin: Origin,
  people: PeoplePort,
  allowed: readonly string[],
): Promise<OriginVerdict> {
  const home = await people.home();
  if (home === null) return { ok: false, code: 'unverified' };
  if (!origin.teams.every((team) => teamAllowed(team, home, allowed, origin.enterprise)))
    return { ok: false, code: 'foreign_workspace' };
  const account = await people.account(origin.user);
  if (account === null) return { ok: false, code: 'unverified' };
  if (account.team !== null && !teamAllowed(account.team, home, allowed, origin.enterprise))
    return { ok: false, code: 'foreign_workspace' };
  if (account.guest) return { ok: false, code: 'guest' };
  return { ok: true };
}
