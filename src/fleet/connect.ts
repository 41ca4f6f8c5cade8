/**
 * One connection to the fleet's NATS with what both ends use: JetStream, the
 * three KV buckets and the events stream, created when missing (the first
 * agent or controller on a fresh server makes them; later ones open them).
 * Authentication is the client's own (user/password, token, credentials
 * file, TLS); nothing here listens.
 */
import { readFile } from 'node:fs/promises';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { FaultlineError } from '../core/errors.js';
import { DEFAULT_NATS_URL } from './constants.js';
import {
  AGENTS_BUCKET,
  CONTROL_BUCKET,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  LEASES_BUCKET,
} from './protocol.js';

export interface FleetConnectOptions {
  /** One URL or a comma-separated list (`nats://host:4222`). */
  servers: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS credentials file (JWT + nkey seed). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** The client's name on the server's monitoring pages. */
  name?: string;
  /** How long the first connection may take (ms, default 5000). */
  timeoutMs?: number;
  /** Keep reconnecting forever (agents) rather than giving up (default true). */
  reconnect?: boolean;
  /**
   * Where replies to this client's requests arrive. Default `_INBOX_<user or name>`, so that the
   * least-privilege configuration (examples/fleet/nats-server.conf) can let each user subscribe to
   * its own replies only, instead of every client reading `_INBOX.>`.
   */
  inboxPrefix?: string;
}

export interface FleetConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  agents: KV;
  leases: KV;
  control: KV;
  close(): Promise<void>;
}

/**
 * The keys of a bucket that hold a message now (a delete marker too: read each with `get` and keep
 * the `PUT`s), from its stream's subject counts. Requests with timeouts, no consumer: `kv.keys()`
 * builds a push consumer whose end of listing (the pending-0 message, or an idle heartbeat that a
 * bucket re-put every second never leaves room for) can be missed, and a missed one never ends:
 * it left `halt --fleet` and the server's emergency stop waiting forever, rarely, under load.
 */
export async function bucketKeys(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
}

/** The stored agent records outlive a dead agent this long, so `faultline fleet` can show it as lost. */
const AGENTS_MAX_AGE_MS = 24 * 3_600_000;
/** Leases a controller never deleted (it died) are judged by the agents long before this. */
const LEASES_MAX_AGE_MS = 24 * 3_600_000;
const EVENTS_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** How long close() lets a drain run before it closes the connection outright. */
const DRAIN_MS = 5_000;

export async function connectFleet(options: FleetConnectOptions): Promise<FleetConnection> {
  const servers = options.servers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new FaultlineError('FAULTLINE_ERR_USAGE', '--nats: expected a NATS URL');
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: options.name,
      user: options.user,
      pass: options.pass,
      token: options.token,
      timeout: options.timeoutMs ?? 5_000,
      reconnect: options.reconnect ?? true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Without it every request and publish builds an Error for its stack trace: a tenth of an
      // agent's CPU in the 1,000-agent benchmark, for traces our messages never show.
      noAsyncTraces: true,
      inboxPrefix: options.inboxPrefix ?? inboxFor(options.user ?? options.name),
      ...(options.credsFile
        ? { authenticator: credsAuthenticator(new Uint8Array(await readFile(options.credsFile))) }
        : {}),
      ...(options.tls ? { tls: await tlsOptions(options.tls) } : {}),
    });
  } catch (err) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FLEET',
      `cannot connect to NATS at ${servers.join(', ')}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(js);
    const [agents, leases, control] = await Promise.all([
      kvm.create(AGENTS_BUCKET, { history: 1, ttl: AGENTS_MAX_AGE_MS }),
      kvm.create(LEASES_BUCKET, { history: 1, ttl: LEASES_MAX_AGE_MS }),
      kvm.create(CONTROL_BUCKET, { history: 5 }),
    ]);
    await ensureEventsStream(jsm);
    return {
      nc,
      js,
      jsm,
      agents,
      leases,
      control,
      close: async () => {
        // Drain lets what is in flight finish; bounded, because a drain that never completes (a
        // watch's consumer the server no longer answers for) once left `halt --fleet` hanging.
        let timer: NodeJS.Timeout | undefined;
        const bounded = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, DRAIN_MS);
        });
        await Promise.race([nc.drain().catch(() => undefined), bounded]);
        clearTimeout(timer);
        if (!nc.isClosed()) await nc.close().catch(() => undefined);
      },
    };
  } catch (err) {
    await nc.close();
    const text = (err as Error).message;
    // A restricted user may open the fleet's storage but not create it (docs/fleet-deploy.md).
    const why = /Permissions Violation.*STREAM\.CREATE/i.test(text)
      ? `${options.user ?? 'this user'} may not create the fleet's buckets and stream: have the admin user connect once (docs/fleet-deploy.md)`
      : 'it has no usable JetStream (start nats-server with -js)';
    throw new FaultlineError('FAULTLINE_ERR_FLEET', `NATS at ${servers.join(', ')}: ${why}: ${text}`, {
      cause: err,
    });
  }
}

/** A reply subject prefix from a user or client name (subject tokens cannot hold `.`, `*`, `>` or spaces). */
function inboxFor(who: string | undefined): string {
  const token = (who ?? '').replace(/[^A-Za-z0-9_-]/g, '_');
  return token ? `_INBOX_${token}` : '_INBOX';
}

async function ensureEventsStream(jsm: JetStreamManager): Promise<void> {
  try {
    await jsm.streams.info(EVENTS_STREAM);
  } catch {
    try {
      await jsm.streams.add({
        name: EVENTS_STREAM,
        subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
        max_age: EVENTS_MAX_AGE_MS * 1_000_000,
      });
    } catch (err) {
      // Another agent created it first.
      if (!/already in use|exists/i.test((err as Error).message)) throw err;
    }
  }
}

async function tlsOptions(tls: NonNullable<FleetConnectOptions['tls']>) {
  return {
    ...(tls.caFile ? { ca: await readFile(tls.caFile, 'utf8') } : {}),
    ...(tls.certFile ? { cert: await readFile(tls.certFile, 'utf8') } : {}),
    ...(tls.keyFile ? { key: await readFile(tls.keyFile, 'utf8') } : {}),
  };
}
