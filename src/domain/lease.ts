// The fencing token of a watcher's lease on one cluster: every write the watcher makes as leader carries it,
// and the state database refuses the write once another replica has taken the lease over.

export interface Fence {
  cluster: string;
  /** The lease's token (a bigint, as text): incremented on every takeover. */
  token: string;
}
