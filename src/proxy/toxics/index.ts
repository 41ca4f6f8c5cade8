/**
 * The toxic types, by name. Adding one: a file in this folder exporting a
 * `ToxicKind` (see ../toxic.ts), and one `register` line here.
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

export const toxicKinds = new Registry<ToxicKind<any>>('toxic type');
const register = (kind: ToxicKind<any>) => toxicKinds.register(kind.type, kind);

// Toxiproxy's toxics.
register(latency);
register(bandwidth);
register(slowClose);
register(timeout);
register(resetPeer);
register(slicer);
register(limitData);
register(noop);
// Faultline's.
register(resetConnect);
register(slowOpen);
register(packetLoss);
register(limitTime);
register(httpAbort);
register(httpDelay);
