/**
 * The page side of `TelemetryErrorBoundary.test.ts`: bundled with rolldown (React's development
 * or production build) and exposed as `globalThis.boundaryPage` for `page.evaluate`. Fallbacks
 * that fail in each way a fallback can: the function throws, a component it renders throws, a
 * static fallback node throws, or it works at first and throws in a later update.
 */
import { StrictMode, createElement, useState } from 'react';
import type { ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { TelemetryErrorBoundary } from '../../src/index.js';
import type {
  FallbackProps,
  ReactCaptureContext,
  ReactTelemetry,
  TelemetryErrorBoundaryProps,
} from '../../src/index.js';

export interface PageCapture {
  message: string;
  tags: ReactCaptureContext['tags'];
  react: { componentStack?: string; fallbackFor?: string } | undefined;
}

const captures: PageCapture[] = [];
const onErrorCalls: { message: string; errorId: string | undefined }[] = [];
let ids = 0;
/** Whether `Thrower` throws on its next render. */
let explode = true;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const recorder: ReactTelemetry = {
  captureError(error, context) {
    captures.push({
      message: message(error),
      tags: context?.tags,
      react: context?.context?.['react'] as PageCapture['react'],
    });
    return `err-${++ids}`;
  },
};
/** What the client answers when its `errors` feature is off. */
const errorsOff: ReactTelemetry = { captureError: () => '' };

function Thrower({ label }: { label: string }): ReactNode {
  if (explode) throw new Error(`boom ${label}`);
  return createElement('p', { id: 'content' }, `content ${label}`);
}

function BrokenFallback({ error }: { error: unknown }): ReactNode {
  throw new Error(`fallback child failed on ${message(error)}`);
}

/** Works until its button is clicked, then throws while rendering. */
function FlakyFallback({ error, errorId }: FallbackProps): ReactNode {
  const [broken, setBroken] = useState(false);
  if (broken) throw new Error(`fallback broke later on ${message(error)}`);
  return createElement(
    'button',
    { id: 'break-fallback', onClick: () => setBroken(true) },
    `failed: ${message(error)} (${errorId ?? 'no id'})`,
  );
}

const onError = (error: unknown, details: { errorId: string | undefined }): void =>
  void onErrorCalls.push({ message: message(error), errorId: details.errorId });

/** An outer boundary (whose fallback must not show) around the inner one under test. */
function nested(fallback: TelemetryErrorBoundaryProps['fallback'], label: string): ReactNode {
  return createElement(
    TelemetryErrorBoundary,
    {
      telemetry: recorder,
      tags: { area: 'outer' },
      fallback: createElement('p', { id: 'outer-fallback' }, 'outer fallback'),
    },
    createElement(
      'div',
      { id: 'inner' },
      createElement(
        TelemetryErrorBoundary,
        { telemetry: recorder, tags: { area: 'inner' }, fallback, onError },
        createElement(Thrower, { label }),
      ),
    ),
  );
}

/** A parent whose button changes the boundary's resetKeys; the fallback function throws. */
function KeyedApp(): ReactNode {
  const [key, setKey] = useState(0);
  return createElement(
    'div',
    null,
    createElement('button', { id: 'next-key', onClick: () => setKey((k) => k + 1) }, 'next'),
    createElement(
      TelemetryErrorBoundary,
      {
        telemetry: recorder,
        resetKeys: [key],
        fallback: ({ error }: FallbackProps) => {
          throw new Error(`fallback failed on ${message(error)}`);
        },
      },
      createElement(Thrower, { label: `key ${key}` }),
    ),
  );
}

const scenarios: Record<string, () => ReactNode> = {
  fallbackThrows: () =>
    nested(({ error }: FallbackProps) => {
      throw new Error(`fallback failed on ${message(error)}`);
    }, 'inner'),
  fallbackChildThrows: () =>
    nested(({ error }: FallbackProps) => createElement(BrokenFallback, { error }), 'inner'),
  staticFallbackThrows: () => nested(createElement(BrokenFallback, { error: 'static' }), 'inner'),
  fallbackThrowsLater: () => nested((props: FallbackProps) => createElement(FlakyFallback, props), 'inner'),
  keyed: () => createElement(KeyedApp),
  errorsOff: () =>
    createElement(
      TelemetryErrorBoundary,
      {
        telemetry: errorsOff,
        onError,
        fallback: ({ error, errorId }: FallbackProps) =>
          createElement('p', { id: 'message' }, `failed: ${message(error)} (${errorId ?? 'no id'})`),
      },
      createElement(Thrower, { label: 'off' }),
    ),
};

let root: Root | undefined;

const api = {
  mount(name: string, options: { strict: boolean; explode: boolean }): void {
    captures.length = 0;
    onErrorCalls.length = 0;
    ids = 0;
    explode = options.explode;
    root?.unmount();
    const container =
      document.getElementById('app') ?? document.body.appendChild(document.createElement('div'));
    container.id = 'app';
    root = createRoot(container);
    const app = scenarios[name]!();
    root.render(options.strict ? createElement(StrictMode, null, app) : app);
  },
  setExplode(value: boolean): void {
    explode = value;
  },
  captures: (): PageCapture[] => captures,
  onErrorCalls: () => onErrorCalls,
  html: (): string => document.getElementById('app')?.innerHTML ?? '',
};

export type BoundaryPage = typeof api;
(globalThis as unknown as { boundaryPage: BoundaryPage }).boundaryPage = api;
