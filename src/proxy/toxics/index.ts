/**
 * The toxic types. Adding one: a file in this folder exporting a `ToxicKind`
 * (see ../toxic.ts) and its line in TOXIC_KINDS; the registry, the API's Go
 * type names (api/decode.ts) and the manager's checks all read the kind.
 */
import { Registry } from '../../core/registry.js';
import type { ToxicKind } from '../toxic.js';
import { bandwidth } from './bandwidth.js';
import { httpAbort } from './http-abort.js';
import { httpDelay } from './http-delay.js';
import { latency } from './latency.js';
import { limitData } from './limit-data.js';
import { limitTime } from './limit-time.js';
import { noop } from './noop.js';
import { packetLoss } from './packet-loss.js';
import { resetConnect } from './reset-connect.js';
import { resetPeer } from './reset-peer.js';
import { slicer } from './slicer.js';
import { slowClose } from './slow-close.js';
import { slowOpen } from './slow-open.js';
import { timeout } from './timeout.js';

/** Every toxic type, in the order docs and `--help` list them: the one list, the registry below derives from it. */
export const TOXIC_KINDS: readonly ToxicKind<any>[] = [
  // Toxiproxy's toxics.
  latency,
  bandwidth,
  slowClose,
  timeout,
  resetPeer,
  slicer,
  limitData,
  noop,
  // Faultline's.
  resetConnect,
  slowOpen,
  packetLoss,
  limitTime,
  httpAbort,
  httpDelay,
];

/** The toxic types by the `type` clients send (the API, the manager and the fault kinds look them up here). */
export const toxicKinds = new Registry<ToxicKind<any>>('toxic type');
for (const kind of TOXIC_KINDS) toxicKinds.register(kind.type, kind);
