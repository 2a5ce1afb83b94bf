import { resourceByName } from '../resources';
import type { ObjectStore } from '../store/store';
import { configureCostMeter } from './meter';
import { CostStore } from './store';

/** Points the process's cost meter at a store: its aggregate is written there, owners are read from it. */
export function configureCostMeterFor(store: ObjectStore): void {
  configureCostMeter(new CostStore(store.doc, store.config), (cluster, resource, namespace, name) => store.get(cluster, resourceByName(resource), namespace, name));
}
