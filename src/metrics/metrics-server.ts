import { createServer, type Server } from 'node:http';
import { metricsRegistry } from './metrics';

/** What a `/metrics` endpoint serves: this process's registry, or the sum over worker processes. */
export interface MetricsSource {
  metrics(): Promise<string>;
  contentType: string;
}

/** A bare `/metrics` endpoint for a worker running without the API (WORKER_METRICS_PORT). */
export async function serveMetrics(
  host: string,
  port: number,
  source: MetricsSource = metricsRegistry,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
