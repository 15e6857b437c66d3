/**
 * Bootstrap is done once every partition has been read up to the high
 * watermark seen at start. Empty partitions (high <= low) are done already.
 */
export class BootstrapTracker {
  private readonly remaining = new Map<number, number>();

  constructor(offsets: ReadonlyArray<{ partition: number; high: string; low: string }>) {
    for (const o of offsets) if (Number(o.high) > Number(o.low)) this.remaining.set(o.partition, Number(o.high));
  }

  get done(): boolean {
    return this.remaining.size === 0;
  }

  /** Records of `partition` before `nextOffset` have been processed. True when that completed bootstrap. */
  advance(partition: number, nextOffset: number): boolean {
    const high = this.remaining.get(partition);
    if (high === undefined || nextOffset < high) return false;
    this.remaining.delete(partition);
    return this.remaining.size === 0;
  }
}
