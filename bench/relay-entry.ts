// Runs dev/relay-host.js's startRelayHost in a process that exits cleanly on SIGTERM,
// so `node --cpu-prof` can write its profile (bench/profile.ts).

import { startRelayHost } from '../dev/relay-host';
import { asError } from '../shared/errors';

if (require.main === module) {
  startRelayHost(process.env, Number(process.env.PORT ?? 0)).then(
    () => undefined,
    (err: unknown) => {
      process.stderr.write(`${asError(err).message}\n`);
      process.exit(2);
    },
  );
  process.on('SIGTERM', () => process.exit(0));
}
