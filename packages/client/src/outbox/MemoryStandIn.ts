import { OutboxIoError } from './errors.js';
import { MemoryOutbox, type MemoryOutboxOptions } from './memory.js';

/**
 * The memory outbox that stands in for a durable one that cannot be had (`failure`: why): it
 * delivers and counts as any outbox, but its `persist()` rejects, since nothing is stored. It
 * knows which state keys were set in it: the outbox interface lists none, and the durable outbox
 * that takes over once it can be opened (`RecoveringOutbox`) is handed them.
 */
export class MemoryStandIn extends MemoryOutbox {
  private readonly keys = new Set<string>();

  constructor(
    options: MemoryOutboxOptions,
    private readonly failure: unknown,
  ) {
    super(options);
  }

  /** Every key `setState` was called with (removed ones too: their value reads undefined). */
  get stateKeys(): readonly string[] {
    return [...this.keys];
  }

  override setState(key: string, value: unknown): Promise<void> {
    // The memory outbox sets it before its promise is handed back: the key is noted in that turn too.
    const set = super.setState(key, value);
    if (typeof key === 'string') this.keys.add(key);
    return set;
  }

  override persist(): Promise<void> {
    return Promise.reject(
      new OutboxIoError('persist (events are kept in memory only)', { cause: this.failure }),
    );
  }
}
