import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IngestError } from './errors.js';
import { readBody } from './readBody.js';

const options = {
  contentEncoding: undefined,
  compression: undefined,
  contentLength: undefined,
  maxBytes: 1000,
};

describe('readBody', () => {
  it('refuses a stream destroyed before it is read as aborted, instead of waiting for its end', async () => {
    const stream = new PassThrough();
    stream.on('error', () => {});
    stream.destroy(new Error('aborted'));
    await new Promise((resolve) => setImmediate(resolve));
    const read = readBody(stream, options).then(
      () => 'read',
      (e: unknown) => (e instanceof IngestError ? e.kind : String(e)),
    );
    const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500));
    expect(await Promise.race([read, waited])).toBe('aborted');
  });

  it('reads a body that arrived whole', async () => {
    const stream = new PassThrough();
    stream.end('[1]');
    expect((await readBody(stream, options)).toString()).toBe('[1]');
  });
});
