import type { ApplyBatch, ApplyResult, CommitBatch, CommitReceipt, OutboxRecord, WindowStore } from '../state/types.js';

/** A partition's last commit: the records it appended to the outbox, and where. */
export interface Committed {
  records: readonly OutboxRecord[];
  receipt: CommitReceipt;
}

/**
 * The window store as the engine sees it: each partition's last commit is kept
 * for the service, which publishes its records from memory instead of reading
 * back from Redis what it has just written there.
 */
export class CommitTap implements WindowStore {
  private readonly last = new Map<string, Committed>();

  constructor(private readonly store: WindowStore) {}

  /** The partition's last commit since the previous take, if any. */
  take(partition: string): Committed | undefined {
    const c = this.last.get(partition);
    this.last.delete(partition);
    return c;
  }

  async commit(batch: CommitBatch): Promise<CommitReceipt> {
    const receipt = await this.store.commit(batch);
    this.last.set(batch.partition, { records: batch.outbox, receipt });
    return receipt;
  }

  apply(batch: ApplyBatch): Promise<ApplyResult> {
    return this.store.apply(batch);
  }

  start(): Promise<void> {
    return this.store.start();
  }

  pendingOutbox(partition: string, limit: number): Promise<Array<{ seq: bigint; record: OutboxRecord }>> {
    return this.store.pendingOutbox(partition, limit);
  }

  ackOutbox(partition: string, seq: bigint): Promise<void> {
    return this.store.ackOutbox(partition, seq);
  }

  committedOffset(partition: string): Promise<bigint | null> {
    return this.store.committedOffset(partition);
  }

  ping(): Promise<void> {
    return this.store.ping();
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  shutdown(): Promise<void> {
    return this.store.shutdown();
  }
}
