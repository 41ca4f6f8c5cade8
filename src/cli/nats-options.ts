/**
 * The NATS connection flags every fleet command shares (agent, fleet, inject
 * --on, halt --fleet), and their mapping to connectFleet's options. Secrets
 * may come from the environment (NATS_USER, NATS_PASSWORD, NATS_TOKEN) so
 * that they do not show in the process list.
 */
import type { Command } from 'commander';
import type { FleetConnectOptions } from '../fleet/connect.js';
import { DEFAULT_NATS_URL } from '../fleet/constants.js';

export interface NatsFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** The flags beside `--nats` (its credentials and TLS), as commander names them. */
export const NATS_DETAIL_FLAGS = [
  'natsUser',
  'natsPassword',
  'natsToken',
  'natsCreds',
  'natsTlsCa',
  'natsTlsCert',
  'natsTlsKey',
] as const satisfies readonly (keyof NatsFlags)[];

/** A flag as the user types it: `natsTlsCa` is `--nats-tls-ca`. */
export function natsFlagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Adds the NATS flags to a command. */
export function withNatsOptions(command: Command): Command {
  return command
    .option(
      '--nats <url>',
      'NATS server URL(s), comma-separated (default $FAULTLINE_NATS_URL or nats://127.0.0.1:4222)',
    )
    .option('--nats-user <user>', 'NATS user (default $NATS_USER)')
    .option('--nats-password <password>', 'NATS password (default $NATS_PASSWORD; prefer the variable)')
    .option('--nats-token <token>', 'NATS token (default $NATS_TOKEN; prefer the variable)')
    .option('--nats-creds <file>', 'NATS credentials file (JWT and nkey seed)')
    .option('--nats-tls-ca <file>', 'CA certificate for NATS over TLS')
    .option('--nats-tls-cert <file>', 'client certificate for NATS over TLS')
    .option('--nats-tls-key <file>', 'client key for NATS over TLS');
}

/** connectFleet's options from the flags and the environment. */
export function natsConnectOptions(
  flags: NatsFlags,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): FleetConnectOptions {
  const tls =
    flags.natsTlsCa || flags.natsTlsCert || flags.natsTlsKey
      ? { caFile: flags.natsTlsCa, certFile: flags.natsTlsCert, keyFile: flags.natsTlsKey }
      : undefined;
  return {
    servers: flags.nats ?? env.FAULTLINE_NATS_URL ?? DEFAULT_NATS_URL,
    name,
    user: flags.natsUser ?? env.NATS_USER,
    pass: flags.natsPassword ?? env.NATS_PASSWORD,
    token: flags.natsToken ?? env.NATS_TOKEN,
    credsFile: flags.natsCreds,
    ...(tls ? { tls } : {}),
  };
}
