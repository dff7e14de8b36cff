/**
 * The page side of the React Chromium test: bundled with rolldown (React in its production
 * build, as apps ship it) and exposed as `globalThis.homingReact` for `page.evaluate`.
 */
import { createElement, useState } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { TelemetryErrorBoundary, TelemetryProvider } from '../../src/index.js';
import type { FallbackProps, ReactCaptureContext, ReactTelemetry } from '../../src/index.js';

interface Capture {
  error: { name: string; message: string } | string;
  context: ReactCaptureContext | undefined;
}

const captures: Capture[] = [];
const onErrorCalls: { componentStack: string | undefined; errorId: string | undefined }[] = [];
let ids = 0;
/** Whether `Thrower` throws on its next render. */
let explode = true;

const recorder: ReactTelemetry = {
  captureError(error, context) {
    captures.push({
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      context,
    });
    return `err-${++ids}`;
  },
};
const exploding: ReactTelemetry = {
  captureError() {
    throw new Error('telemetry exploded');
  },
};

function Thrower({ label }: { label: string }): ReactNode {
  if (explode) throw new Error(`render boom in ${label}`);
  return createElement('p', { id: 'content' }, `content ${label}`);
}

function Fallback({ error, errorId, reset }: FallbackProps): ReactNode {
  return createElement(
    'div',
    { id: 'fallback' },
    createElement('p', { id: 'message' }, `failed: ${(error as Error).message} (${errorId ?? 'no id'})`),
    createElement('button', { id: 'reset', onClick: reset }, 'try again'),
  );
}

/**
 * A parent whose button changes the boundary's resetKeys; `scalar` passes the key itself, not in
 * an array (what plain JavaScript lets an app write).
 */
function KeyedApp({ scalar = false }: { scalar?: boolean }): ReactNode {
  const [key, setKey] = useState(0);
  return createElement(
    'div',
    null,
    createElement('button', { id: 'next-key', onClick: () => setKey((k) => k + 1) }, 'next'),
    createElement(
      TelemetryErrorBoundary,
      {
        telemetry: recorder,
        resetKeys: (scalar ? `key ${key}` : [key]) as readonly unknown[],
        fallback: createElement('p', { id: 'fallback' }, 'static fallback'),
      },
      createElement(Thrower, { label: `key ${key}` }),
    ),
  );
}

let root: Root | undefined;

const scenarios: Record<string, () => ReactNode> = {
  /** Provider → boundary (tags, context, onError) → a component that throws while rendering. */
  provider: () =>
    createElement(
      TelemetryProvider,
      { telemetry: recorder },
      createElement(
        'main',
        null,
        createElement(
          TelemetryErrorBoundary,
          {
            fallback: Fallback,
            tags: { area: 'checkout' },
            context: { screen: 'cart' },
            onError: (
              _error: unknown,
              details: { componentStack: string | undefined; errorId: string | undefined },
            ) => void onErrorCalls.push(details),
          },
          createElement(Thrower, { label: 'cart' }),
        ),
      ),
    ),
  /** The boundary's own telemetry prop wins over the provider's (which throws). */
  ownTelemetry: () =>
    createElement(
      TelemetryProvider,
      { telemetry: exploding },
      createElement(
        TelemetryErrorBoundary,
        { telemetry: recorder, fallback: Fallback, severity: 'fatal' },
        createElement(Thrower, { label: 'own' }),
      ),
    ),
  /** A captureError that throws must not stop the fallback. */
  throwingTelemetry: () =>
    createElement(
      TelemetryProvider,
      { telemetry: exploding },
      createElement(TelemetryErrorBoundary, { fallback: Fallback }, createElement(Thrower, { label: 'x' })),
    ),
  /** No provider and no telemetry prop: still a boundary. */
  noTelemetry: () =>
    createElement(TelemetryErrorBoundary, { fallback: Fallback }, createElement(Thrower, { label: 'alone' })),
  keyed: () => createElement(KeyedApp),
  keyedScalar: () => createElement(KeyedApp, { scalar: true }),
};

const api = {
  mount(name: string, shouldThrow: boolean): void {
    captures.length = 0;
    onErrorCalls.length = 0;
    ids = 0;
    explode = shouldThrow;
    root?.unmount();
    const container =
      document.getElementById('app') ?? document.body.appendChild(document.createElement('div'));
    container.id = 'app';
    root = createRoot(container);
    root.render(scenarios[name]!());
  },
  setExplode(value: boolean): void {
    explode = value;
  },
  captures: (): Capture[] => captures,
  onErrorCalls: () => onErrorCalls,
};

(globalThis as unknown as { homingReact: typeof api }).homingReact = api;
