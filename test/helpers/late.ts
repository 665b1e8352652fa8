// A reference to an object that exists only once a `before` hook has made it: `late()` hands out a stand-in at
// module level (so a test file can write `const { db, slack, app } = useTestApp(…)` and keep using `db.url`,
// `slack.callsTo(…)`, `app.port` in its tests), and `set()` points it at the real object. Using it before then,
// or after `set(undefined)`, throws a sentence that names it instead of "cannot read properties of undefined".
export interface Late<T extends object> {
  /** Forwards every read, write and call to the current object. */
  ref: T;
  set(value: T | undefined): void;
  /** The current object, or undefined (for teardown: `late.current?.stop()`). */
  readonly current: T | undefined;
}

export function late<T extends object>(what: string): Late<T> {
  let value: T | undefined;
  const target = (): T => {
    if (value === undefined) throw new Error(`${what} is not there: it exists between useTestApp()'s before and after`);
    return value;
  };
  const ref = new Proxy({} as T, {
    get(_, key) {
      const t = target();
      const v = Reflect.get(t, key, t);
      // Methods run on the object itself, so that private fields and native methods work.
      return typeof v === 'function' ? v.bind(t) : v;
    },
    set: (_, key, v) => Reflect.set(target(), key, v),
    has: (_, key) => Reflect.has(target(), key),
    deleteProperty: (_, key) => Reflect.deleteProperty(target(), key),
    ownKeys: () => Reflect.ownKeys(target()),
    getOwnPropertyDescriptor(_, key) {
      const d = Reflect.getOwnPropertyDescriptor(target(), key);
      // The proxy's own target is empty and extensible: every property it reports must be configurable.
      return d ? { ...d, configurable: true } : undefined;
    },
  });
  return {
    ref,
    set(next) {
      value = next;
    },
    get current() {
      return value;
    },
  };
}
