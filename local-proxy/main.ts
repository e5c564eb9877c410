// `npm run proxy` and the container's entry point: settings from the environment, start,
// and a clean exit on SIGTERM (stop accepting, settle or abandon the send in flight,
// save cursors) well inside a pod's 30 s grace period.

import { ConfigError } from '../shared/config/loaders';
import { createLogger } from '../shared/observability/log';
import { type ForwarderConfig, loadForwarderConfig } from './config';
import { type RunningForwarder, SpoolDirError, startForwarder } from './forwarder';
import { asError } from '../shared/errors';

/** After SHUTDOWN_TIMEOUT, this much more for closing files before giving up. */
const EXIT_MARGIN_MS = 5000;

async function main(): Promise<void> {
  const log = createLogger();
  let cfg: ForwarderConfig;
  try {
    cfg = loadForwarderConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`prom-remotewrite forwarder: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let forwarder: RunningForwarder;
  try {
    forwarder = await startForwarder(cfg, { log });
  } catch (err) {
    if (err instanceof SpoolDirError) {
      process.stderr.write(`prom-remotewrite forwarder: ${err.message}\n`);
      process.exit(2);
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      process.stderr.write(`prom-remotewrite forwarder: cannot listen on port ${cfg.listen.port} (${e.code}): set LISTENING_PORT to a free port\n`);
      process.exit(2);
    }
    throw err;
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    log.info('shutting down: no new writes, settling the send in flight', { signal, timeoutMs: cfg.shutdownTimeoutMs });
    const hard = setTimeout(() => {
      log.error('shutdown took too long, exiting; unsent data stays in the spool');
      process.exit(1);
    }, cfg.shutdownTimeoutMs + EXIT_MARGIN_MS);
    hard.unref();
    forwarder.stop().then(
      () => {
        log.info('stopped; spool and cursors saved', { ms: Date.now() - started });
        process.exit(0);
      },
      (err: unknown) => {
        log.error('shutdown failed; the spool is replayed at the next start', { error: asError(err).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
