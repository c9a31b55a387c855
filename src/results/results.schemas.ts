import { z } from 'zod';
import { zodDto } from '../common/zod-validation.pipe';

/** `GET /v1/batches/{id}/results` query (an extension): the previous page's `x-next-cursor`, if any. */
export const resultsQuerySchema = z.object({
  after: z.string().min(1).max(8192).optional(),
});
export class ResultsQuery extends zodDto(resultsQuerySchema) {}
