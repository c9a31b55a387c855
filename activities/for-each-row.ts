import { Context } from '@temporalio/activity';

/**
 * Visits every row `list` pages out, in `seq` order, heartbeating the last visited `seq`; a retried attempt resumes
 * after the row its predecessor last reported.
 */
export async function forEachRow<T extends { seq: number }>(
  list: (afterSeq: number, limit: number) => Promise<T[]>,
  pageSize: number,
  visit: (row: T) => Promise<void>,
): Promise<void> {
  const ctx = Context.current();
  let afterSeq = Number(ctx.info.heartbeatDetails ?? 0);
  for (;;) {
    const page = await list(afterSeq, pageSize);
    for (const row of page) {
      await visit(row);
      afterSeq = row.seq;
      ctx.heartbeat(afterSeq); // the SDK throttles what it sends
    }
    if (page.length < pageSize) return;
  }
}
