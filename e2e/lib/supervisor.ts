// Child processes of the end-to-end test, started and stopped through the test kit's one
// way (dev/kit/child.ts). Every process started here is tracked until it has exited:
// stop() sends SIGTERM and, after a bounded grace, SIGKILL; killAllNow() is the synchronous
// last resort for process 'exit'. Output goes to <dir>/<name>.log (appended across
// restarts, so a restarted forwarder's log shows both lives).

import type { ChildProcess } from 'node:child_process';
import { asError } from '../../shared/errors';
import { type ExitInfo, killChild, spawnProgram, stopChild } from '../../dev/kit/child';
import { appendFileSync, closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type { ExitInfo } from '../../dev/kit/child';

export interface Proc {
  readonly spec: ProcSpec;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<ExitInfo>;
  exit?: ExitInfo;
  /** set when we stopped or killed it on purpose */
  intended: boolean;
}

/** How long a process gets to vanish after SIGKILL before that is an error. */
const KILL_WAIT_MS = 10_000;

export class Supervisor {
  private readonly procs: Proc[] = [];
  /** set once everything is being stopped: nothing new may start (a run racing Ctrl+C) */
  private closing = false;

  constructor(private readonly logDir: string) {}

  start(spec: ProcSpec): Proc {
    if (this.closing) throw new Error(`not starting ${spec.name}: shutting down`);
    const logPath = join(this.logDir, `${spec.name}.log`);
    const fd = openSync(logPath, 'a');
    writeSync(fd, `\n===== ${new Date().toISOString()} start: ${spec.command} ${spec.args.join(' ')}\n`);
    let started: ReturnType<typeof spawnProgram>;
    try {
      started = spawnProgram(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    const { child } = started;
    const proc: Proc = { spec, child, pid: child.pid ?? -1, logPath, exited: started.exited, intended: false };
    void started.exited.then((e) => {
      proc.exit = e;
      if (e.spawnError) appendFileSync(logPath, `spawn failed: ${e.spawnError.message}\n`);
    });
    this.procs.push(proc);
    return proc;
  }

  running(): Proc[] {
    return this.procs.filter((p) => !p.exit);
  }

  /** Processes that ended without being asked to. */
  unexpectedExits(): Proc[] {
    return this.procs.filter((p) => p.exit && !p.intended);
  }

  /** SIGKILL, and wait (bounded) until it is gone. */
  async kill(p: Proc): Promise<ExitInfo> {
    p.intended = true;
    if (!p.exit) await killChild(p.child, KILL_WAIT_MS).catch((err: unknown) => Promise.reject(new Error(`${p.spec.name}: ${asError(err).message}`)));
    return p.exited;
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(p: Proc, graceMs = 10_000): Promise<ExitInfo> {
    p.intended = true;
    if (!p.exit) await stopChild(p.child, graceMs, KILL_WAIT_MS).catch((err: unknown) => Promise.reject(new Error(`${p.spec.name}: ${asError(err).message}`)));
    return p.exited;
  }

  /** Stops every running process, those named first in `order` first, the rest in reverse start order. */
  async stopAll(order: string[] = [], graceMs = 10_000): Promise<void> {
    const rank = (p: Proc): number => {
      const i = order.indexOf(p.spec.name);
      return i >= 0 ? i : order.length;
    };
    this.closing = true;
    for (let live = this.running(); live.length > 0; live = this.running()) {
      for (const p of live.reverse().sort((a, b) => rank(a) - rank(b))) await this.stop(p, graceMs);
    }
  }

  /** Synchronous: for process 'exit' and a second Ctrl+C. */
  killAllNow(): void {
    this.closing = true;
    for (const p of this.running()) {
      p.intended = true;
      try {
        p.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  tail(p: Proc, lines = 15): string {
    try {
      return readFileSync(p.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
