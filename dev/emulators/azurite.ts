// Azurite, Microsoft's storage emulator (the `azurite` npm package), table service only:
// the shared state of `npm start` and of the two-instance tests. It runs as a child
// process, so a test can stop it mid-run (storage down) and start it again on the same
// port. In memory: nothing is left behind and start-up stays under a second or two.

import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '../kit/ports';

/** Azurite's well-known development account (public, in Microsoft's docs: not a secret). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  port: number;
  /** an AzureWebJobsStorage value pointing at this emulator's table service */
  connectionString: string;
  /** storage down: the process is killed; its in-memory tables are lost */
  stop(): Promise<void>;
  /** a fresh, empty emulator on the same port */
  start(): Promise<void>;
}

export function azuriteConnectionString(port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`;
}

export async function startAzurite(opts: { port?: number; log?: (line: string) => void } = {}): Promise<Azurite> {
  const port = opts.port || (await freePort());
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = await launch(port, opts.log);
  };
  await start();
  return {
    port,
    connectionString: azuriteConnectionString(port),
    start,
    stop: async () => {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((ok) => {
        c.once('exit', () => ok());
        c.kill('SIGKILL');
      });
    },
  };
}

function launch(port: number, log?: (line: string) => void): Promise<ChildProcess> {
  const main = require.resolve('azurite/dist/src/table/main.js');
  // --skipApiVersionCheck: @azure/data-tables may be newer than this Azurite;
  // --disableProductStyleUrl: the account is in the path (127.0.0.1/devstoreaccount1), not the host.
  const args = [
    main,
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(port),
    '--inMemoryPersistence',
    '--skipApiVersionCheck',
    '--disableProductStyleUrl',
    '--silent',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // an emulator must not outlive the process that started it (a test that fails midway)
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookSet) process.once('exit', killChildren);
  exitHookSet = true;
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`Azurite did not start on port ${port} within 20 s: ${out.slice(-500)}`));
    }, 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/successfully started/.test(out)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        if (log) child.stdout?.on('data', (x: Buffer) => log(x.toString().trimEnd()));
        ok(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`Azurite exited (code ${code}) before it started on port ${port}: ${out.slice(-500)}`));
    });
  });
}

const children = new Set<ChildProcess>();
let exitHookSet = false;
function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}
