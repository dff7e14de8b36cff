import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHttpPost, MAX_ANSWER_BYTES } from './nodeHttpPost.js';

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

let server: Server;
let base = '';
const seen: Seen[] = [];
let sockets = 0;
/** Each accepted connection's 'close', in order; a test reads those made after a count it took. */
const socketsClosed: Array<Promise<unknown>> = [];
/** The answers to `/held` requests, sent when the test says. */
const held: Array<() => void> = [];

function route(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const url = req.url ?? '';
  if (url === '/ok') {
    res.writeHead(202, { 'content-type': 'application/json', 'x-echo': String(body.length) });
    res.end(JSON.stringify({ accepted: 1 }));
  } else if (url === '/retry') {
    res.writeHead(503, { 'retry-after': '7' });
    res.end('down for maintenance');
  } else if (url === '/moved-temporarily') {
    res.writeHead(307, { location: '/ok' });
    res.end();
  } else if (url === '/moved-for-good') {
    res.writeHead(301, { location: '/ok' });
    res.end();
  } else if (url === '/to-other-origin') {
    // The same server under another name: a different origin, so its key must not follow.
    res.writeHead(307, { location: base.replace('127.0.0.1', 'localhost') + '/ok' });
    res.end();
  } else if (url === '/to-https') {
    res.writeHead(308, { location: base.replace('http:', 'https:') + '/ok' });
    res.end();
  } else if (url === '/loop') {
    res.writeHead(308, { location: '/loop' });
    res.end();
  } else if (url === '/huge') {
    res.writeHead(200);
    res.end(Buffer.alloc(MAX_ANSWER_BYTES + 5000, 'a'));
  } else if (url === '/cut') {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('{"partial":');
    setTimeout(() => res.socket?.destroy(), 20);
  } else if (url === '/held') {
    held.push(() => {
      res.writeHead(202);
      res.end('answered late');
    });
  } else if (url === '/slow') {
    setTimeout(() => res.end('late'), 5000).unref();
  } else {
    res.writeHead(404);
    res.end('no such route');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      route(req, res, body);
    });
  });
  server.on('connection', (socket) => {
    sockets++;
    // Not `once`: a socket that errs first (the TLS hello below) closes all the same.
    socketsClosed.push(new Promise((resolve) => socket.once('close', resolve)));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('createNodeHttpPost', () => {
  const post = createNodeHttpPost();

  it('POSTs the body with its headers and a content-length, and answers status, headers and text', async () => {
    seen.length = 0;
    const answer = await post(`${base}/ok`, {
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: '{"batch":["é"]}',
    });
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.text)).toEqual({ accepted: 1 });
    expect((answer.headers as Record<string, string>)['x-echo']).toBe('16');
    const [request] = seen;
    expect(request!.headers.authorization).toBe('Bearer k');
    expect(request!.headers['content-length']).toBe('16');
    expect(request!.body.toString('utf8')).toBe('{"batch":["é"]}');
  });

  it('sends bytes as they are (a gzip body arrives intact)', async () => {
    seen.length = 0;
    const gz = gzipSync('{"batch":[1,2,3]}');
    await post(`${base}/ok`, { headers: { 'content-encoding': 'gzip' }, body: new Uint8Array(gz) });
    expect(gunzipSync(seen[0]!.body).toString()).toBe('{"batch":[1,2,3]}');
  });

  it('reuses one connection for requests one after another', async () => {
    const before = sockets;
    for (let i = 0; i < 5; i++) await post(`${base}/ok`, { headers: {}, body: 'x' });
    expect(sockets - before).toBeLessThanOrEqual(1);
  });

  it('resolves any HTTP status, with the headers a caller needs (Retry-After)', async () => {
    const answer = await post(`${base}/retry`, { headers: {}, body: '' });
    expect(answer.status).toBe(503);
    expect((answer.headers as Record<string, string>)['retry-after']).toBe('7');
    expect(answer.text).toBe('down for maintenance');
    expect((await post(`${base}/nowhere`, { headers: {}, body: '' })).status).toBe(404);
  });

  it('follows 307 with the same body, answers 301 as it is, and stops after 3 redirects', async () => {
    seen.length = 0;
    const followed = await post(`${base}/moved-temporarily`, { headers: {}, body: 'events' });
    expect(followed.status).toBe(202);
    expect(seen.map((s) => [s.url, s.body.toString()])).toEqual([
      ['/moved-temporarily', 'events'],
      ['/ok', 'events'],
    ]);
    expect((await post(`${base}/moved-for-good`, { headers: {}, body: 'x' })).status).toBe(301);
    seen.length = 0;
    expect((await post(`${base}/loop`, { headers: {}, body: 'x' })).status).toBe(308);
    expect(seen).toHaveLength(4);
  });

  it('does not follow a redirect to another origin: the key and body stay with the endpoint the app named', async () => {
    seen.length = 0;
    const headers = { authorization: 'Bearer hw_secret' };
    const answer = await post(`${base}/to-other-origin`, { headers, body: '{"api_key":"phc_secret"}' });
    expect(answer.status).toBe(307);
    expect(seen.map((s) => s.url)).toEqual(['/to-other-origin']);
    // http: to https: on the same host is followed (here it meets a plain-HTTP port, so TLS fails).
    await expect(post(`${base}/to-https`, { headers, body: 'x' })).rejects.toMatchObject({
      code: expect.stringMatching(/^ERR_SSL|^EPROTO/),
    });
  });

  it('cuts an answer at 1 MiB, and keeps the status of an answer cut off on the way', async () => {
    const huge = await post(`${base}/huge`, { headers: {}, body: '' });
    expect(huge.status).toBe(200);
    expect(huge.text.length).toBe(MAX_ANSWER_BYTES);
    const cut = await post(`${base}/cut`, { headers: {}, body: '' });
    expect(cut.status).toBe(200);
    expect(cut.text).toBe('{"partial":');
  });

  it('rejects on a refused connection, an abort and a bad URL, naming the cause', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(post(`http://127.0.0.1:${port}/`, { headers: {}, body: 'x' })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    const aborted = post(`${base}/slow`, { headers: {}, body: 'x', signal: AbortSignal.timeout(50) });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    await expect(post('not a url', { headers: {}, body: '' })).rejects.toThrow(/not a valid URL/);
    await expect(post('ftp://127.0.0.1/x', { headers: {}, body: '' })).rejects.toThrow(
      /only http: and https:/,
    );
    await expect(post(`${base}/ok`, { headers: { 'bad\nheader': 'x' }, body: '' })).rejects.toBeInstanceOf(
      TypeError,
    );
  });

  it('keeps no process alive with its idle kept-alive connection', async () => {
    const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
    const script = `
      const { createNodeHttpPost } = await import(${JSON.stringify(here('./nodeHttpPost.ts'))});
      // A request in flight holds nothing either: its caller keeps the process up while it waits.
      const hold = setInterval(() => {}, 1000);
      const answer = await createNodeHttpPost()(${JSON.stringify(`${base}/ok`)}, { headers: {}, body: 'x' });
      clearInterval(hold);
      console.log(answer.status);
    `;
    const child = spawn(
      process.execPath,
      [
        '--import',
        here('../outbox/file-log/__fixtures__/register-ts.mjs'),
        '--input-type=module',
        '-e',
        script,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // The server keeps idle connections for a minute: a child still running after 20 s is held
    // open by its socket.
    const [code] = (await Promise.race([
      once(child, 'exit'),
      new Promise((resolve) => setTimeout(() => resolve(['still running']), 20_000)),
    ])) as [unknown];
    child.kill();
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.trim()).toBe('202');
  }, 30_000);
});

describe('createNodeHttpPost close()', () => {
  /** Waits until `check` holds, a turn of the event loop at a time (no clock involved). */
  async function until(check: () => boolean): Promise<void> {
    while (!check()) await new Promise((resolve) => setImmediate(resolve));
  }

  it('closes the kept-alive connection at once when nothing is in flight (the server sees it go)', async () => {
    const post = createNodeHttpPost();
    const first = socketsClosed.length;
    expect((await post(`${base}/ok`, { headers: {}, body: 'x' })).status).toBe(202);
    expect(socketsClosed.length).toBe(first + 1);
    post.close();
    // Waits as long as the test may: the server keeps an idle connection for a minute.
    await socketsClosed[first];
  });

  it('lets a request in flight finish, then closes its connection', async () => {
    const post = createNodeHttpPost();
    const first = socketsClosed.length;
    held.length = 0;
    const answer = post(`${base}/held`, { headers: {}, body: 'x' });
    await until(() => held.length === 1);
    post.close();
    held[0]!();
    const { status, text } = await answer;
    expect([status, text]).toEqual([202, 'answered late']);
    expect(socketsClosed.length).toBe(first + 1);
    await socketsClosed[first];
  });

  it('still sends after close(), and closes that connection too once its answer is in', async () => {
    const post = createNodeHttpPost();
    post.close();
    const first = socketsClosed.length;
    expect((await post(`${base}/moved-temporarily`, { headers: {}, body: 'x' })).status).toBe(202);
    await Promise.all(socketsClosed.slice(first));
  });
});
