// Child processes of the end-to-end test. Every process started here is tracked until it
// has exited: stop() sends SIGTERM and, after a bounded grace, SIGKILL; killAllNow() is the
// synchronous last resort for process 'exit'. Output goes to <dir>/<name>.log (appended
// across restarts, so a restarted forwarder's log shows both lives).

import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

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
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    let resolveExit!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((ok) => (resolveExit = ok));
    const proc: Proc = { spec, child, pid: child.pid ?? -1, logPath, exited, intended: false };
    child.once('exit', (code, signal) => {
      proc.exit = { code, signal };
      resolveExit(proc.exit);
    });
    child.once('error', (err) => {
      proc.exit = { code: -1, signal: null };
      appendFileSync(logPath, `spawn failed: ${err.message}\n`);
      resolveExit(proc.exit);
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
    if (p.exit) return p.exit;
    p.child.kill('SIGKILL');
    return this.waitExit(p, 10_000);
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(p: Proc, graceMs = 10_000): Promise<ExitInfo> {
    p.intended = true;
    if (p.exit) return p.exit;
    p.child.kill('SIGTERM');
    const e = await Promise.race([p.exited, new Promise<undefined>((ok) => setTimeout(() => ok(undefined), graceMs).unref())]);
    if (e) return e;
    p.child.kill('SIGKILL');
    return this.waitExit(p, 10_000);
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

  private async waitExit(p: Proc, ms: number): Promise<ExitInfo> {
    const e = await Promise.race([p.exited, new Promise<undefined>((ok) => setTimeout(() => ok(undefined), ms).unref())]);
    if (!e) throw new Error(`${p.spec.name} (pid ${p.pid}) did not exit after SIGKILL`);
    return e;
  }
}
