/**
 * `faultline serve` and its `user` and `token` subcommands as main.ts registers them: flags and
 * help only. The commands (serve.ts) and the server they load are imported when one runs, so the
 * CLI's start pays nothing for them.
 */
import { type Command, Option } from 'commander';
import { withNatsOptions } from './nats-options.js';
import type { Output } from './output.js';

const DATABASE_HELP = 'a SQLite file path or postgres://user@host/db (default: $FAULTLINE_HOME/faultline.db)';

/**
 * `faultline serve` and its `user` and `token` commands, for main.ts. The `--database` of
 * `serve user ...` may be given before or after the subcommand (commander gives it to `serve`
 * when it comes first), so the subcommands read it from their ancestors too.
 */
export function registerServeCommands(program: Command, out: () => Output): void {
  const serve = program
    .command('serve')
    .description(
      'start the control plane: a JSON API (OpenAPI at /api/openapi.json) that stores experiments and runs, and runs them; sign-in with users and API tokens (`serve user`, `serve token`)',
    )
    .option(
      '--host <address>',
      'address to listen on (beyond loopback only once an admin user exists)',
      '127.0.0.1',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', '7474')
    .option('--database <url>', DATABASE_HELP)
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert');
  // With --nats, runs place their `targets:` faults on the fleet's agents and the emergency stop halts
  // the fleet; without it the server never connects to NATS (the other --nats-* flags need it).
  withNatsOptions(serve).action(async (opts) => {
    process.exitCode = await (await run()).serveCommand(opts, out());
  });
  // Checked by the command (serve.ts), so that registering loads none of the server's modules.
  const role = () =>
    new Option('--role <role>', 'what it may do: viewer, operator, approver or admin').makeOptionMandatory();
  const run = () => import('./serve.js');
  const database = (cmd: Command) => cmd.optsWithGlobals<{ database?: string }>().database;

  const user = serve.command('user').description("the control plane's users (on its database directly)");
  user
    .command('add')
    .description(
      'add a user; the password is asked for on the terminal, or read from stdin with --password-stdin',
    )
    .argument('<name>', 'the name to sign in with')
    .addOption(role())
    .option('--password-stdin', 'read the password from stdin (one line) instead of asking')
    .option('--database <url>', DATABASE_HELP)
    .action(async (name: string, opts, cmd: Command) => {
      process.exitCode = await (await run()).userAddCommand(
        name,
        { ...opts, database: database(cmd) },
        out(),
      );
    });
  user
    .command('list')
    .description('list the users (names, roles, never passwords)')
    .option('--json', 'as JSON')
    .option('--database <url>', DATABASE_HELP)
    .action(async (opts, cmd: Command) => {
      process.exitCode = await (await run()).userListCommand({ ...opts, database: database(cmd) }, out());
    });

  const token = serve
    .command('token')
    .description("the control plane's API tokens (on its database directly)");
  token
    .command('add')
    .description('add an API token (for CI): printed once on stdout, only its hash is stored')
    .argument('<name>', 'a name for it (audit entries say token:NAME)')
    .addOption(role())
    .option(
      '--owner <user>',
      "the user it acts for (never above that user's role; gone with the user); default local",
    )
    .option('--database <url>', DATABASE_HELP)
    .action(async (name: string, opts, cmd: Command) => {
      process.exitCode = await (await run()).tokenAddCommand(
        name,
        { ...opts, database: database(cmd) },
        out(),
      );
    });
  token
    .command('list')
    .description('list the API tokens (names, roles, owners, never the tokens)')
    .option('--json', 'as JSON')
    .option('--database <url>', DATABASE_HELP)
    .action(async (opts, cmd: Command) => {
      process.exitCode = await (await run()).tokenListCommand({ ...opts, database: database(cmd) }, out());
    });
}
