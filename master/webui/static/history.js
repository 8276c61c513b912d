// Samples of allocated CPU and memory over time, collected by the page from each snapshot
// (the master keeps no history): the cluster's, and each framework's. Bounded: the last
// MAX_SAMPLES samples are kept.

import { clusterResources, scalar } from './format.js';

const MAX_SAMPLES = 360;

export class History {
  constructor() {
    this.samples = [];
  }

  /** Records one sample from a snapshot that has a state (others are ignored). */
  record(snapshot) {
    const state = snapshot?.state;
    if (!state) return;
    const { total, used } = clusterResources(state);
    const frameworks = {};
    for (const f of state.frameworks ?? []) {
      const r = f.used_resources ?? f.resources;
      frameworks[f.id] = { cpus: scalar(r, 'cpus'), mem: scalar(r, 'mem') };
    }
    this.samples.push({ t: snapshot.at, total, used, frameworks });
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
  }

  /** [[t, value]] of the cluster's used (`kind` 'used') or total scalar `name`. */
  cluster(kind, name) {
    return this.samples.map((s) => [s.t, s[kind][name] ?? 0]);
  }

  /** [[t, value]] of one framework's allocated scalar `name` (0 while it had none). */
  framework(id, name) {
    return this.samples.map((s) => [s.t, s.frameworks[id]?.[name] ?? 0]);
  }
}
