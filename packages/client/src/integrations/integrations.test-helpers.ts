import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BreadcrumbInput, CaptureContext, Tags, TelemetryLike } from './telemetryLike.js';

export interface TimingCall {
  name: string;
  valueMs: number;
  tags: Tags | undefined;
}

export interface CaptureCall {
  error: unknown;
  context: CaptureContext | undefined;
  id: string;
}

/** Records every call, so tests can assert what an integration sent. */
export class FakeTelemetry implements TelemetryLike {
  readonly timings: TimingCall[] = [];
  readonly captures: CaptureCall[] = [];
  readonly breadcrumbs: BreadcrumbInput[] = [];
  readonly tracked: { event: string; properties: Record<string, unknown> | undefined }[] = [];
  #ids = 0;

  captureError(error: unknown, context?: CaptureContext): string {
    const id = `err-${++this.#ids}`;
    this.captures.push({ error, context, id });
    return id;
  }
  addBreadcrumb(breadcrumb: BreadcrumbInput): void {
    this.breadcrumbs.push(breadcrumb);
  }
  timing(name: string, valueMs: number, tags?: Tags): void {
    this.timings.push({ name, valueMs, tags: tags === undefined ? undefined : { ...tags } });
  }
  track(event: string, properties?: Record<string, unknown>): void {
    this.tracked.push({ event, properties });
  }
}

/** Every method throws (and counts the calls): an integration must not let that reach the app. */
export class ThrowingTelemetry implements TelemetryLike {
  calls = 0;
  captureError(): string {
    this.calls++;
    throw new Error('captureError exploded');
  }
  addBreadcrumb(): void {
    this.calls++;
    throw new Error('addBreadcrumb exploded');
  }
  timing(): void {
    this.calls++;
    throw new Error('timing exploded');
  }
  track(): void {
    this.calls++;
    throw new Error('track exploded');
  }
}

/** Polls `condition` until it holds (generous deadline: the machine is shared and loaded). */
export async function until(condition: () => boolean, what = 'condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Listens on 127.0.0.1 on a free port; answers the base URL and a close that ends open sockets. */
export async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
