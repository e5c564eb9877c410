// Hostile HTTP against a node:http server of ours (the dev Function host serving the
// relay, or the forwarder's server): slow-loris headers and bodies, Content-Length that
// lies (larger, smaller, over the limits, twice, with chunked), broken chunking, a
// header flood, bytes that are not HTTP, clients that vanish mid-body, and a crowd of
// slow connections while valid writes go on. Every connection must end in a 4xx or be
// dropped within the server's timeouts (headersTimeout / requestTimeout, enforced by
// Node every connectionsCheckingInterval), never a 5xx, and valid traffic keeps its
// 204 throughout.

import { connect } from 'node:net';
import type { Server } from 'node:http';

export interface HttpTarget {
  name: string;
  port: number;
  /** the write route, e.g. /api/v1/write */
  path: string;
  /** a valid request's body and headers, answered 204 */
  validBody: Buffer;
  validHeaders: Record<string, string>;
}

/** The timeouts the server runs with: the bounds every slow connection is held to. */
export interface ServerTimeouts {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
}

export interface HttpCaseResult {
  target: string;
  name: string;
  ok: boolean;
  /** what happened (status lines, when the connection closed) */
  detail: string;
  ms: number;
}

type TimeoutServer = Server & { connectionsCheckingInterval: number };

export function serverTimeouts(server: Server): ServerTimeouts {
  return {
    headersTimeout: server.headersTimeout,
    requestTimeout: server.requestTimeout,
    connectionsCheckingInterval: (server as TimeoutServer).connectionsCheckingInterval,
  };
}

/** Sets a server's timeouts; connectionsCheckingInterval only takes effect if set before listen(). */
export function setServerTimeouts(server: Server, t: ServerTimeouts): void {
  server.headersTimeout = t.headersTimeout;
  server.requestTimeout = t.requestTimeout;
  (server as TimeoutServer).connectionsCheckingInterval = t.connectionsCheckingInterval;
}

interface Exchange {
  /** ms from connect until the server closed the connection; undefined: still open at the deadline */
  closedAfterMs: number | undefined;
  /** status codes of every response seen on the connection */
  statuses: number[];
  /** bytes the client managed to send */
  sent: number;
}

interface ExchangeOptions {
  /** written at once after connecting */
  head: Buffer | string;
  /** then written one byte at a time, every intervalMs, cycling, until the server closes */
  trickle?: Buffer | string;
  intervalMs?: number;
  /** written after the first response arrives (keep-alive follow-ups) */
  afterFirstResponse?: Buffer | string;
  /** the client destroys its side after this many ms */
  abortAfterMs?: number;
  /** give up (and record the connection as still open) after this many ms */
  deadlineMs: number;
}

function exchange(port: number, o: ExchangeOptions): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    let followedUp = false;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      if (timer) clearInterval(timer);
      clearTimeout(deadline);
      if (abort) clearTimeout(abort);
      socket.destroy();
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ closedAfterMs: closed ? Date.now() - started : undefined, statuses, sent });
    };
    const deadline = setTimeout(() => finish(false), o.deadlineMs);
    const abort = o.abortAfterMs !== undefined ? setTimeout(() => finish(true), o.abortAfterMs) : undefined;
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (o.afterFirstResponse !== undefined && !followedUp && /HTTP\/1\.1 \d{3}[\s\S]*?\r\n\r\n/.test(text)) {
        followedUp = true;
        socket.write(o.afterFirstResponse);
        if (o.trickle !== undefined) startTrickle();
      }
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    const startTrickle = (): void => {
      const bytes = Buffer.from(o.trickle ?? '');
      let i = 0;
      timer = setInterval(() => {
        if (socket.destroyed || !socket.writable) return;
        socket.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
        i++;
        sent++;
      }, o.intervalMs ?? 50);
    };
    socket.on('connect', () => {
      const head = Buffer.from(o.head);
      socket.write(head);
      sent += head.length;
      if (o.trickle !== undefined && o.afterFirstResponse === undefined) startTrickle();
    });
  });
}

function requestHead(target: HttpTarget, headers: Record<string, string>, extra = ''): string {
  const lines = [`POST ${target.path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n${extra}`;
}

async function validWrite(target: HttpTarget): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${target.port}${target.path}`, { method: 'POST', headers: target.validHeaders, body: target.validBody });
  await res.arrayBuffer();
  return { status: res.status, ms: Date.now() - t0 };
}

/**
 * Runs every case against the target, concurrently where they only wait; `timeouts` are
 * the server's, `slackMs` the allowance on top of them for scheduling.
 */
export async function runHttpCases(target: HttpTarget, timeouts: ServerTimeouts, slackMs = 1500): Promise<HttpCaseResult[]> {
  const H = timeouts.headersTimeout;
  const R = timeouts.requestTimeout;
  const I = timeouts.connectionsCheckingInterval;
  const headerBound = H + I + slackMs;
  const requestBound = R + I + slackMs;
  const deadline = requestBound + 5000;
  const rw = target.validHeaders;
  const results: HttpCaseResult[] = [];

  const judge = (name: string, t0: number, x: Exchange, bound: number, opts: { want?: (s: number) => boolean; needResponse?: boolean } = {}): void => {
    const problems: string[] = [];
    if (x.closedAfterMs === undefined) problems.push(`connection still open after ${deadline} ms`);
    else if (x.closedAfterMs > bound) problems.push(`closed only after ${x.closedAfterMs} ms (bound ${bound} ms)`);
    if (x.statuses.some((s) => s >= 500)) problems.push('a 5xx answer');
    const want = opts.want ?? ((s: number) => s >= 400 && s < 500);
    const bad = x.statuses.filter((s) => !want(s));
    if (bad.length > 0) problems.push(`unexpected status ${bad.join(',')}`);
    if (opts.needResponse && x.statuses.length === 0) problems.push('no response at all');
    const detail = `statuses [${x.statuses.join(',')}], closed after ${x.closedAfterMs ?? 'never'} ms, ${x.sent} bytes sent${problems.length ? `: ${problems.join('; ')}` : ''}`;
    results.push({ target: target.name, name, ok: problems.length === 0, detail, ms: Date.now() - t0 });
  };

  const slow = async (name: string, o: ExchangeOptions, bound: number, opts?: { want?: (s: number) => boolean; needResponse?: boolean }): Promise<void> => {
    const t0 = Date.now();
    judge(name, t0, await exchange(target.port, o), bound, opts);
  };

  const body = target.validBody;
  const withLength = (n: number | string): Record<string, string> => ({ ...rw, 'Content-Length': String(n) });

  const cases: Promise<void>[] = [
    slow(
      'slow-loris: headers one byte every 50 ms',
      { head: `POST ${target.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, trickle: 'X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n', deadlineMs: deadline },
      headerBound,
    ),
    slow('slow-loris: connect and send nothing', { head: '', deadlineMs: deadline }, headerBound),
    slow(
      'slow-loris: body one byte every 50 ms',
      { head: requestHead(target, withLength(1024 * 1024), '\r\n'), trickle: body, deadlineMs: deadline },
      requestBound,
    ),
    slow(
      'slow-loris: chunked body, one byte every 50 ms',
      { head: requestHead(target, { ...rw, 'Transfer-Encoding': 'chunked' }, '\r\n'), trickle: '1\r\na\r\n', deadlineMs: deadline },
      requestBound,
    ),
    slow(
      'Content-Length larger than the body, then silence',
      { head: Buffer.concat([Buffer.from(requestHead(target, withLength(body.length + 1000), '\r\n')), body]), deadlineMs: deadline },
      requestBound,
    ),
    slow(
      'Content-Length over MAX_BODY_BYTES, body never sent',
      { head: requestHead(target, withLength(33 * 1024 * 1024), '\r\n'), deadlineMs: deadline },
      requestBound,
    ),
    slow(
      'Content-Length over the host limit (1 GB), body trickled',
      { head: requestHead(target, withLength(1_000_000_000), '\r\n'), trickle: 'aaaaaaaa', deadlineMs: deadline },
      requestBound,
    ),
    slow(
      'Content-Length smaller than the body (the rest is a bogus next request)',
      { head: Buffer.concat([Buffer.from(requestHead(target, withLength(16), '\r\n')), body]), deadlineMs: deadline },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow(
      'Content-Length and Transfer-Encoding both',
      {
        head: Buffer.concat([Buffer.from(requestHead(target, { ...withLength(body.length), 'Transfer-Encoding': 'chunked' }, '\r\n')), body]),
        deadlineMs: deadline,
      },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow(
      'two different Content-Length headers',
      {
        head: Buffer.concat([Buffer.from(requestHead(target, withLength(body.length), `Content-Length: ${body.length + 7}\r\n\r\n`)), body]),
        deadlineMs: deadline,
      },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow(
      'Content-Length not a number',
      { head: Buffer.concat([Buffer.from(requestHead(target, withLength('12abc'), '\r\n')), body]), deadlineMs: deadline },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow('negative Content-Length', { head: requestHead(target, withLength(-5), '\r\n'), deadlineMs: deadline }, slackMs + 2000, { needResponse: true }),
    slow(
      'invalid chunk size',
      { head: requestHead(target, { ...rw, 'Transfer-Encoding': 'chunked' }, '\r\nzz\r\nhello\r\n0\r\n\r\n'), deadlineMs: deadline },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow(
      '64 KiB of headers',
      { head: requestHead(target, { ...withLength(0), 'X-Flood': 'a'.repeat(64 * 1024) }, '\r\n'), deadlineMs: deadline },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow('10 000 headers', { head: `POST ${target.path} HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(10_000)}\r\n`, deadlineMs: deadline }, slackMs + 2000, {
      needResponse: true,
    }),
    slow(
      'not HTTP at all',
      { head: Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), body.subarray(0, 200)]), deadlineMs: deadline },
      slackMs + 2000,
      { needResponse: true },
    ),
    slow('request line of 100 KiB', { head: `POST /${'a'.repeat(100 * 1024)} HTTP/1.1\r\n\r\n`, deadlineMs: deadline }, slackMs + 2000, { needResponse: true }),
    slow(
      'client vanishes mid-body',
      {
        head: Buffer.concat([Buffer.from(requestHead(target, withLength(body.length), '\r\n')), body.subarray(0, body.length >> 1)]),
        abortAfterMs: 200,
        deadlineMs: deadline,
      },
      slackMs + 2000,
      { want: () => false },
    ),
    slow(
      'keep-alive: a valid write, then the next request trickled',
      {
        head: Buffer.concat([Buffer.from(requestHead(target, { ...withLength(body.length), Connection: 'keep-alive' }, '\r\n')), body]),
        afterFirstResponse: `POST ${target.path} HTTP/1.1\r\n`,
        trickle: 'X-Slow: a\r\n',
        deadlineMs: deadline + 1000,
      },
      headerBound + 1000,
      { want: (s) => s === 204 || s === 408, needResponse: true },
    ),
  ];

  // A crowd of slow connections while valid writes go on: every valid write gets 204 quickly.
  const crowd = Array.from({ length: 60 }, (_, i) =>
    exchange(
      target.port,
      i % 2 === 0
        ? { head: `POST ${target.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, trickle: 'X-Slow: aaaa\r\n', intervalMs: 100, deadlineMs: deadline }
        : { head: requestHead(target, withLength(1024 * 1024), '\r\n'), trickle: 'a', intervalMs: 100, deadlineMs: deadline },
    ),
  );
  const crowdStarted = Date.now();
  await new Promise((r) => setTimeout(r, 200));
  const writes: { status: number; ms: number }[] = [];
  for (let i = 0; i < 10; i++) writes.push(await validWrite(target));
  const slowWrites = writes.filter((w) => w.status !== 204 || w.ms > 2000);
  results.push({
    target: target.name,
    name: '10 valid writes while 60 slow-loris connections are open',
    ok: slowWrites.length === 0,
    detail: `statuses [${writes.map((w) => w.status).join(',')}], slowest ${Math.max(...writes.map((w) => w.ms))} ms`,
    ms: Date.now() - crowdStarted,
  });
  const crowdDone = await Promise.all(crowd);
  const stillOpen = crowdDone.filter((x) => x.closedAfterMs === undefined || x.closedAfterMs > requestBound).length;
  const fiveXX = crowdDone.filter((x) => x.statuses.some((s) => s >= 500)).length;
  results.push({
    target: target.name,
    name: '60 slow-loris connections all dropped',
    ok: stillOpen === 0 && fiveXX === 0,
    detail: `${crowdDone.length - stillOpen} of ${crowdDone.length} closed within ${requestBound} ms (latest ${Math.max(...crowdDone.map((x) => x.closedAfterMs ?? Infinity))} ms), ${fiveXX} with a 5xx`,
    ms: Date.now() - crowdStarted,
  });

  await Promise.all(cases);

  // and the server still serves
  const after = await validWrite(target);
  results.push({
    target: target.name,
    name: 'a valid write after all of it',
    ok: after.status === 204,
    detail: `status ${after.status} in ${after.ms} ms`,
    ms: after.ms,
  });
  return results;
}
