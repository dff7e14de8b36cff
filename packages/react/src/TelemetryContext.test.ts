import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { TelemetryReactError } from './errors.js';
import { TelemetryErrorBoundary } from './TelemetryErrorBoundary.js';
import { TelemetryProvider, useTelemetry } from './TelemetryContext.js';
import type { ReactTelemetry } from './TelemetryContext.js';

class Recorder implements ReactTelemetry {
  readonly captured: unknown[] = [];
  readonly tracked: string[] = [];
  constructor(readonly name: string) {}
  captureError(error: unknown): string {
    this.captured.push(error);
    return 'id-1';
  }
  track(event: string): void {
    this.tracked.push(event);
  }
}

/** A component that uses the hook the way an app would: it tracks on render and shows whose telemetry it got. */
function Tracker({ event }: { event: string }) {
  const telemetry = useTelemetry<Recorder>();
  telemetry.track(event);
  return createElement('span', null, `${telemetry.name}:${event}`);
}

describe('TelemetryProvider and useTelemetry (react-dom/server)', () => {
  it('gives the nearest provider’s telemetry to the hook', () => {
    const outer = new Recorder('outer');
    const inner = new Recorder('inner');
    const html = renderToString(
      createElement(
        TelemetryProvider,
        { telemetry: outer },
        createElement(Tracker, { event: 'a' }),
        createElement(TelemetryProvider, { telemetry: inner }, createElement(Tracker, { event: 'b' })),
      ),
    );
    expect(html).toBe('<span>outer:a</span><span>inner:b</span>');
    expect(outer.tracked).toEqual(['a']);
    expect(inner.tracked).toEqual(['b']);
  });

  it('useTelemetry outside a provider throws a no-provider error', () => {
    let thrown: unknown;
    try {
      renderToString(createElement(Tracker, { event: 'x' }));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TelemetryReactError);
    expect((thrown as TelemetryReactError).kind).toBe('no-provider');
  });

  it('a provider without a usable telemetry throws invalid-telemetry', () => {
    for (const telemetry of [undefined, null, 'client', {}, { captureError: 'no' }]) {
      let thrown: unknown;
      try {
        renderToString(createElement(TelemetryProvider, { telemetry: telemetry as never }, 'child'));
      } catch (e) {
        thrown = e;
      }
      expect(thrown, String(telemetry)).toBeInstanceOf(TelemetryReactError);
      expect((thrown as TelemetryReactError).kind).toBe('invalid-telemetry');
    }
  });

  it('the error boundary renders its children when nothing throws', () => {
    const telemetry = new Recorder('t');
    const html = renderToString(
      createElement(
        TelemetryProvider,
        { telemetry },
        createElement(TelemetryErrorBoundary, { fallback: 'oops' }, createElement(Tracker, { event: 'ok' })),
      ),
    );
    expect(html).toBe('<span>t:ok</span>');
    expect(telemetry.captured).toEqual([]);
  });
});
