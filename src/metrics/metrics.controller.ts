import { Controller, Get, Header, Inject } from '@nestjs/common';
import { Public } from '../common/public.decorator';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import { gaugeFrom, metricsRegistry } from './metrics';

/** Prometheus metrics, open to scrapers without a key. */
@Public()
@Controller()
export class MetricsController {
  constructor(@Inject(STORAGE) storage: Storage) {
    gaugeFrom('batch_batches', 'Batches by status', ['status'], async (g) => {
      for (const [status, n] of Object.entries(await storage.batches.countByStatus())) g.set({ status }, n);
    });
  }

  /** The process's metrics in Prometheus text format. */
  @Get('metrics')
  @Header('content-type', metricsRegistry.contentType)
  metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }
}
