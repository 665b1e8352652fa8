// `pgsessions_watch_leading` on /metrics: how many clusters this replica leads right now (0 while it watches
// nothing or another replica leads everything). Summed over replicas it is the number of watched clusters.
import { Gauge, type Registry } from 'prom-client';

export function registerLeadingGauge(registry: Registry, leading: () => number): void {
  new Gauge({
    name: 'pgsessions_watch_leading',
    help: 'Watched clusters this replica leads right now (its fair share of them once every replica is up).',
    registers: [registry],
    collect() {
      this.set(leading());
    },
  });
}
