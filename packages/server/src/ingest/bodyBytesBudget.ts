/**
 * The bytes of ingest bodies (after decompression) that requests may hold while they are read
 * and parsed: all of them together, and those from one source (an IPv4 address, an IPv6 /64).
 * Without it a hundred small gzip bodies that each inflate to just under the per-request limit,
 * sent without a key (a key in the body is only read after the parse), held over a gigabyte and
 * the event loop for seconds before each got its 401. A body that would pass either bound is
 * refused at once with 503 and Retry-After: the client sends it again, and the bytes it would
 * have held are never decompressed. The bound per source keeps one sender that stalls its
 * bodies from holding the whole budget and so refusing everyone else.
 */
export class BodyBytesBudget {
  private held = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    readonly maxBytes: number,
    readonly maxBytesPerSource: number,
  ) {}

  /** Bytes held now, by all sources. */
  get inFlight(): number {
    return this.held;
  }

  /** Takes `n` bytes for `source` if they fit both bounds; false (nothing taken) when not. */
  take(n: number, source: string): boolean {
    const mine = this.bySource.get(source) ?? 0;
    if (this.held + n > this.maxBytes || mine + n > this.maxBytesPerSource) return false;
    this.held += n;
    this.bySource.set(source, mine + n);
    return true;
  }

  give(n: number, source: string): void {
    this.held = Math.max(0, this.held - n);
    const left = (this.bySource.get(source) ?? 0) - n;
    if (left > 0) this.bySource.set(source, left);
    else this.bySource.delete(source);
  }
}

/** The source of the requests without an address: they all share one. */
export const NO_ADDRESS_SOURCE = 'no-address';

/**
 * Whom a request's bytes count against: its address (`request.ip`, which follows `trustProxy`),
 * an IPv6 one by its /64, which one host commonly has whole. A request has none (undefined,
 * though Fastify types it a string) once its connection closed, which a client that resets
 * mid-body or sends a bad chunk size does before the body parser runs, and over a Unix socket.
 */
export function budgetSource(ip: string | undefined): string {
  if (ip === undefined || ip === '') return NO_ADDRESS_SOURCE;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4 !== null) return v4[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
    : front;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
