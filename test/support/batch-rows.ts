import { newValidatingBatch, type NewBatch, type NewBatchFields } from '../../src/storage/batch.store';

/** A validating batch row as create writes it, for specs that insert rows directly: owner `o`, chat, `file-1`. */
export const testBatchRow = (id: string, fields: Partial<NewBatchFields> = {}): NewBatch =>
  newValidatingBatch({
    id,
    owner: 'o',
    endpoint: '/v1/chat/completions',
    input_file_id: 'file-1',
    completion_window: '24h',
    created_at: 1,
    expires_at: 2,
    ...fields,
  });
