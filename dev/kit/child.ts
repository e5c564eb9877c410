// Node programs of this repo run as child processes by the tests (the forwarder, the relay
// host, `npm start`): one way to start them with a bare environment, read what they print,
// wait for the line that says they are up, and stop them. Every child is SIGKILLed if the
// test process exits first, so a failed test leaves nothing listening.

import { type ChildProcess, spawn } from 'node:child_process';

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

/** Starts `node script` with only PATH and `env` set (no settings leak in from the test's shell). */
export function spawnNode(script: string, env: Record<string, string>, cwd?: string): NodeChild {
  const child = spawn(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return { child, output: () => out, exited };
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

/** SIGTERM, then SIGKILL if it is still running after graceMs; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}
