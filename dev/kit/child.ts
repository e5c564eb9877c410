// Child processes of the tests, the bench and the e2e run (the forwarder, the relay host,
// `npm start`, and the e2e's real peers): one way to start them, read what they print, wait
// for the line that says they are up, and stop them. Every child is SIGKILLed if the
// parent process exits first, so a failed test leaves nothing listening.

import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';

export interface NodeChild {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived */
  output(): string;
  /** the exit code, or the signal's name when it was killed */
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** set when the program could not be started at all (not found, not executable) */
  spawnError?: Error;
}

/**
 * Starts any program, killed with the parent; `exited` resolves once it has ended, or
 * could not be started (a missing binary is an exit, not an uncaught 'error' event).
 */
export function spawnProgram(
  command: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; stdio: StdioOptions },
): { child: ChildProcess; exited: Promise<ExitInfo> } {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: opts.stdio });
  running.add(child);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      running.delete(child);
      resolve({ code: -1, signal: null, spawnError: err });
    });
  });
  return { child, exited };
}

/** Starts `node script` with only PATH and `env` set (no settings leak in from the test's shell). */
export function spawnNode(script: string, env: Record<string, string>, cwd?: string): NodeChild {
  const { child, exited } = spawnProgram(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: exited.then((e) => e.code ?? e.signal ?? -1) };
}

/**
 * Resolves with the first match of `re` in the child's output; rejects, with the output, when
 * the child exits first or timeoutMs passes.
 */
export function waitForOutput(c: NodeChild, re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, m?: RegExpExecArray): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.child.stdout!.off('data', check);
      c.child.stderr!.off('data', check);
      if (err) reject(err);
      else resolve(m!);
    };
    const check = (): void => {
      const m = re.exec(c.output());
      if (m) finish(undefined, m);
    };
    const timer = setTimeout(() => finish(new Error(`${what}: not seen within ${timeoutMs} ms (${re}); output:\n${c.output()}`)), timeoutMs);
    c.child.stdout!.on('data', check);
    c.child.stderr!.on('data', check);
    void c.exited.then((code) => {
      check();
      finish(new Error(`${what}: the process exited (${code}) first; output:\n${c.output()}`));
    });
    check();
  });
}

/**
 * SIGTERM, then SIGKILL if it is still running after graceMs; resolves once it has exited.
 * killWaitMs: how long to wait after SIGKILL before rejecting (default: no bound).
 */
export async function stopChild(child: ChildProcess, graceMs: number, killWaitMs?: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await waitGone(child, exited, graceMs, killWaitMs);
  } finally {
    clearTimeout(t);
  }
}

/** SIGKILL at once (a crash, as the e2e's kill -9 of the forwarder); resolves once it has exited. */
export async function killChild(child: ChildProcess, killWaitMs?: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGKILL');
  await waitGone(child, exited, 0, killWaitMs);
}

/** Waits for `exited`; with killWaitMs, rejects if it has not come killWaitMs after the SIGKILL (sent graceMs in). */
async function waitGone(child: ChildProcess, exited: Promise<void>, graceMs: number, killWaitMs: number | undefined): Promise<void> {
  if (killWaitMs === undefined) return exited;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit ${killWaitMs} ms after SIGKILL`)), graceMs + killWaitMs);
  });
  try {
    await Promise.race([exited, limit]);
  } finally {
    clearTimeout(timer);
  }
}
