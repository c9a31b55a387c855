import { collectDefaultMetrics, Counter, Gauge, register, type Metric } from 'prom-client';

// One registry per process: the API's /metrics shows the worker's series too when both run in one process
// (`npm start`); a worker on its own serves them on WORKER_METRICS_PORT.
collectDefaultMetrics({ register });

/** One label set's running count, incremented as a plain number and added to its counter when scraped. */
export interface TallySlot {
  n: number;
}

/** One object per label set, made on first use and the same object after (callers keep it). */
class LabelSlots<L extends string, S> {
  private readonly byKey = new Map<string, { labels: Partial<Record<L, string>>; slot: S }>();

  constructor(private readonly make: () => S) {}

  get(labels: Partial<Record<L, string>>): S {
    const key = JSON.stringify(labels);
    let entry = this.byKey.get(key);
    if (!entry) this.byKey.set(key, (entry = { labels, slot: this.make() }));
    return entry.slot;
  }

  /** Every label set seen, with its slot. */
  entries(): IterableIterator<{ labels: Partial<Record<L, string>>; slot: S }> {
    return this.byKey.values();
  }
}

/**
 * Counts for a counter incremented on the hot path (every upstream answer): callers keep a slot per label set and
 * add to it, and the counter takes the sums when scraped. prom-client validates and hashes the labels on every
 * `inc`, which cost a few percent of a busy worker's time.
 */
export class CounterTally<L extends string> {
  private readonly slots = new LabelSlots<L, TallySlot>(() => ({ n: 0 }));
  readonly counter: Counter<L>;

  constructor(config: { name: string; help: string; labelNames: readonly L[] }) {
    const slots = this.slots;
    this.counter = new Counter<L>({
      ...config,
      collect() {
        for (const { labels, slot } of slots.entries()) {
          if (slot.n === 0) continue;
          this.inc(labels, slot.n);
          slot.n = 0;
        }
      },
    });
  }

  /** The slot for a label set (the same object every time: keep it and add to `n`). */
  slot(labels: Partial<Record<L, string>>): TallySlot {
    return this.slots.get(labels);
  }
}

/** One label set's observations of a {@link HistogramTally}. */
export class HistogramSlot {
  /** Observations per bucket (not cumulative); the last is past every bound (`+Inf`). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

type Labels = Record<string, string | number | undefined>;

/**
 * A histogram observed on the hot path (every upstream attempt), as {@link CounterTally} is a counter: callers keep
 * a slot per label set and observe into plain numbers. prom-client's own `observe` copies, validates and hashes the
 * labels every time (1.5-2.5% of a busy worker's time in B1 profiles). Registered as a metric of its own that
 * renders as prom-client's histograms do (`_bucket` with `le`, `_sum`, `_count`) and sums across worker processes.
 */
export class HistogramTally<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly slots: LabelSlots<L, HistogramSlot>;

  constructor(config: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    const bounds = [...config.buckets].sort((a, b) => a - b);
    this.bounds = bounds;
    this.slots = new LabelSlots(() => new HistogramSlot(bounds));
    register.registerMetric(this as unknown as Metric);
  }

  /** The slot for a label set (the same object every time: keep it and observe into it). */
  slot(labels: Partial<Record<L, string>>): HistogramSlot {
    return this.slots.get(labels);
  }

  /** The metric as prom-client's registry reads it. */
  get() {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const { labels, slot } of this.slots.entries()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += slot.counts[i];
        const le = i < this.bounds.length ? this.bounds[i] : '+Inf';
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...labels }, value: slot.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: slot.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Forgets every observation (prom-client's `resetMetrics`). */
  reset(): void {
    for (const { slot } of this.slots.entries()) {
      slot.counts.fill(0);
      slot.sum = 0;
      slot.count = 0;
    }
  }
}

/** Upstream attempts sent (every try, retries included). */
export const upstreamAttempts = new CounterTally({
  name: 'batch_upstream_attempts_total',
  help: 'HTTP attempts sent upstream, retries included',
  labelNames: ['upstream', 'model'] as const,
});

/** Requests with a final answer, by result (succeeded = 2xx, failed = anything else). */
export const upstreamRequests = new CounterTally({
  name: 'batch_upstream_requests_total',
  help: 'Batch requests with a final answer',
  labelNames: ['upstream', 'model', 'result'] as const,
});

/** Retries, by the reason for the retry (429, 5xx, timeout, network). */
export const upstreamRetries = new Counter({
  name: 'batch_upstream_retries_total',
  help: 'Upstream attempts that were retried',
  labelNames: ['upstream', 'model', 'reason'] as const,
});

/** Time per upstream attempt. */
export const upstreamLatency = new HistogramTally({
  name: 'batch_upstream_latency_seconds',
  help: 'Latency of one upstream attempt',
  labelNames: ['upstream'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
});

/** Tokens reported by upstream usage. */
export const tokensTotal = new CounterTally({
  name: 'batch_tokens_total',
  help: 'Tokens used, from the usage of successful responses',
  labelNames: ['upstream', 'model', 'kind'] as const,
});

/** Webhook delivery attempts, by event type and outcome (delivered, retry, rejected, skipped). */
export const webhookDeliveries = new Counter({
  name: 'batch_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome: delivered (2xx), retry (will be retried), rejected (final), skipped',
  labelNames: ['type', 'outcome'] as const,
});

/** Expired files the maintenance schedule deleted, blob included. */
export const retentionFilesDeleted = new Counter({
  name: 'batch_retention_files_deleted_total',
  help: 'Expired files deleted by the maintenance schedule, with their blobs',
});

/** Batches left without a workflow (the API stopped between insert and start) that maintenance started. */
export const orphanedBatchesRestarted = new Counter({
  name: 'batch_orphaned_batches_restarted_total',
  help: 'Batches found without a workflow and started by the maintenance schedule',
});

/** Batches whose workflow had closed while the store showed them running, ended by the maintenance schedule. */
export const strandedBatchesRepaired = new Counter({
  name: 'batch_repaired_batches_total',
  help: 'Batches whose workflow closed early (terminated, failed, lost) and that maintenance ended from their checkpoints',
});

/** Cancels sent again by the maintenance schedule to batches cancelling past the grace period. */
export const cancelsResignalled = new Counter({
  name: 'batch_cancels_resignalled_total',
  help: 'Batches cancelling past the grace period whose workflow maintenance signalled again',
});

/** A gauge whose value is read when scraped. */
export function gaugeFrom(name: string, help: string, labelNames: string[], read: (g: Gauge) => void | Promise<void>) {
  const existing = register.getSingleMetric(name);
  if (existing) register.removeSingleMetric(name);
  return new Gauge({
    name,
    help,
    labelNames,
    async collect() {
      this.reset();
      await read(this);
    },
  });
}

/** The process registry. */
export const metricsRegistry = register;
