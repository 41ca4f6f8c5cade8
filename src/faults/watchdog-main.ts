/**
 * Entry script of the dead-man switch (watchdog.ts): `node watchdog-main.js
 * '<config as JSON>'`, spawned detached by a FaultSession. It runs from dist/
 * as plain JS, or from src/ under tsx, and prints nothing (its stdio is ignored).
 */
// Recovery loads only the kinds the ledger names, when it needs them, and watchdog-loop.ts no more
// than the ledger and recovery: the watchdog starts small beside the run (and a halt).
import { faultKinds } from '../compose.js';
import { type WatchdogConfig, watchRun } from './watchdog-loop.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WatchdogConfig;
// A hangup of the runner's terminal must not end the watchdog: that is when it is needed.
process.on('SIGHUP', () => undefined);
await watchRun(config, faultKinds).catch(() => undefined);
process.exit(0);
