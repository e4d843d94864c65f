// /metrics in Prometheus' text format, through prom-client (the client library Prometheus users know):
// requests by route and status, their latency, the queue, and how many requests each batch carried.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServeMetrics {
  private readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'digits_http_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['route', 'status'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'digits_http_request_duration_seconds',
    help: 'Time to answer a request, by route',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly batches = new Histogram({
    name: 'digits_batch_requests',
    help: 'Requests in each batch a worker (or the event loop) ran through the network',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  private loadOf: () => { active: number; waiting: number; workers: number } = () => ({ active: 0, waiting: 0, workers: 0 });

  constructor() {
    // prom-client calls collect() with the gauge as `this`; the load comes from this class
    const load = () => this.loadOf();
    new Gauge({
      name: 'digits_queue_waiting',
      help: 'Requests waiting for a worker',
      registers: [this.registry],
      collect() {
        this.set(load().waiting);
      },
    });
    new Gauge({
      name: 'digits_queue_active',
      help: 'Requests being decoded, preprocessed or run',
      registers: [this.registry],
      collect() {
        this.set(load().active);
      },
    });
    new Gauge({
      name: 'digits_workers',
      help: 'Worker threads (0: the event loop does the work)',
      registers: [this.registry],
      collect() {
        this.set(load().workers);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'digits_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }
  queue(load: () => { active: number; waiting: number; workers: number }): void {
    this.loadOf = load;
  }
  batch(requests: number): void {
    this.batches.observe(requests);
  }
  request(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    this.latency.observe({ route }, seconds);
  }
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
