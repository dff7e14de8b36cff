import type { Logger } from '../../logger.js';

/**
 * Tells the other tabs of an origin which records of one IndexedDB outbox left it (acked or
 * dead-lettered), by uuid, over a BroadcastChannel. Each tab keeps its own records in memory for
 * the unload send (`ResidentRecords`), and only the tab holding the delivery lock sends the
 * stored ones: without this, a tab that never held it sent again, when it was hidden or closed,
 * records the holder had delivered seconds before, counted them as sent and spent its 64 KB
 * unload budget on them. By uuid, not by key: a database deleted and made again reuses keys.
 *
 * Best effort: a message in flight when the page goes away, or no BroadcastChannel at all,
 * leaves the duplicates the server drops by uuid.
 */
export class SentElsewhere {
  private channel: BroadcastChannel | undefined;

  constructor(name: string, onGone: (uuids: ReadonlySet<string>) => void, logger: Logger) {
    if (typeof BroadcastChannel !== 'function') return;
    try {
      this.channel = new BroadcastChannel(name);
      this.channel.onmessage = (message: MessageEvent) => {
        const uuids: unknown = message.data;
        if (!Array.isArray(uuids)) return;
        onGone(new Set(uuids.filter((u): u is string => typeof u === 'string')));
      };
      // Node: a channel keeps the process alive unless told otherwise.
      (this.channel as { unref?: () => void }).unref?.();
    } catch (error) {
      logger.debug('no BroadcastChannel; other tabs may send again what this one sent', { error });
    }
  }

  /** These records left the outbox here. */
  gone(uuids: readonly string[]): void {
    if (uuids.length === 0 || this.channel === undefined) return;
    try {
      this.channel.postMessage(uuids);
    } catch {
      // Closed meanwhile: the duplicates it would have spared are dropped by the server.
    }
  }

  close(): void {
    this.channel?.close();
    this.channel = undefined;
  }
}
