/**
 * `faultline proxy`: the Toxiproxy-compatible fault proxy server (the default
 * subcommand, also `proxy serve`), and subcommands that manage a running one
 * through the same ProxyClient experiments use. The server, the manager and the
 * client are imported when an action runs, so other commands stay fast.
 *
 * Exit status: 0 on success, 1 when the API refuses a request or cannot be
 * reached, 2 for invalid arguments or an invalid config file.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { FaultlineError } from '../core/errors.js';
import type { ProxyView, ToxicView } from '../proxy/model.js';
import { type Output, printJsonDocument, printText } from './output.js';
import { waitForSignal } from './wait-signal.js';

const DEFAULT_URL = 'http://127.0.0.1:8474';

interface ClientOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw usage(`--port: expected a port from 0 to 65535, got '${value}'`);
  return n;
}

function parseNumber(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min) {
      throw usage(`${flag}: expected a number${min === 0 ? ' >= 0' : ''}, got '${value}'`);
    }
    return n;
  };
}

function parseTtl(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) {
    throw usage(`--ttl: expected a positive whole number of milliseconds, got '${value}'`);
  }
  return Number(value);
}

// A DNS name (letters, digits, `-`, `_` as in container names), optionally `.name` for the name and its
// subdomains and a trailing dot; browserGuard compares names without ports.
const ALLOWED_HOST = /^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i;

/**
 * The names a server answers to besides localhost and IP addresses (browserGuard's `allowedHosts`):
 * `flag`'s values when any are given, else the comma-separated list in the environment variable
 * `envName` (as a flag overrides FAULTLINE_PROXY_TOKEN). Shared by `proxy` and the run's metrics server.
 */
export function allowedHostsOption(
  flag: string,
  given: readonly string[] | undefined,
  envName: string,
  env: NodeJS.ProcessEnv,
): string[] {
  const fromFlag = given !== undefined && given.length > 0;
  const source = fromFlag ? flag : envName;
  const names = fromFlag ? [...given] : (env[envName] ?? '').split(',').filter((n) => n.trim() !== '');
  for (const name of names) {
    if (!ALLOWED_HOST.test(name.trim())) {
      throw usage(
        `${source}: expected a host name such as proxy.internal, or .example.com for that name and its subdomains (no port, no scheme, no *), got '${name}'`,
      );
    }
  }
  return names.map((n) => n.trim());
}

/** `key=value` pairs: numbers and booleans are sent as such, anything else as a string. */
export function parseAttributes(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usage(`--attribute: expected key=value, got '${pair}'`);
    const key = pair.slice(0, eq).trim();
    const raw = pair.slice(eq + 1).trim();
    let value: unknown = raw;
    if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(raw)) value = Number(raw);
    else if (raw === 'true' || raw === 'false') value = raw === 'true';
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

async function clientFor(opts: ClientOptions) {
  const { ProxyClient } = await import('../proxy/client.js');
  const url = opts.url ?? (process.env.FAULTLINE_PROXY_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usage(`--url: expected an http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usage(`--url: expected an http(s) URL, got '${url}'`);
  }
  return new ProxyClient({ url, token: opts.token ?? (process.env.FAULTLINE_PROXY_TOKEN || undefined) });
}

/** Names and attributes come from the API server: printed with control characters escaped. */
function printJson(value: unknown): void {
  printJsonDocument(value);
}

function describeToxic(t: ToxicView): string {
  const attrs = Object.entries(t.attributes)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const extra = [
    t.stream,
    ...(t.toxicity === 1 ? [] : [`toxicity ${t.toxicity}`]),
    ...(t.ttl === undefined ? [] : [`ttl ${t.ttl}ms`]),
  ];
  return `${t.name}: ${t.type}${attrs ? ` ${attrs}` : ''} (${extra.join(', ')})`;
}

function describeProxy(p: ProxyView): string {
  return `${p.name}: ${p.listen} -> ${p.upstream} (${p.enabled ? 'enabled' : 'disabled'})`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

// --- the server -----------------------------------------------------------------------------------

interface ServeOptions {
  host: string;
  port: number;
  config?: string;
  token?: string;
  allowPublicListen?: boolean;
  allowUpstream?: string[];
  allowedHost?: string[];
}

/** Runs the proxy and its API until SIGINT or SIGTERM; closes every connection on the way out. */
export async function proxyServeCommand(opts: ServeOptions, out: Output): Promise<number> {
  const token = opts.token ?? (process.env.FAULTLINE_PROXY_TOKEN || undefined);
  const [{ isLoopbackHost, startControlServer }, { sdkControlMount }] = await Promise.all([
    import('../proxy/api/server.js'),
    import('../sdk-control/api.js'),
  ]);
  if (!isLoopbackHost(opts.host) && !token) {
    throw usage(
      `refusing to serve the proxy API on ${opts.host}, which other machines can reach, without a token: ` +
        'pass --token or set FAULTLINE_PROXY_TOKEN',
    );
  }
  const { parseCidr } = await import('../proxy/listen.js');
  const allowUpstream = opts.allowUpstream ?? [];
  for (const cidr of allowUpstream) {
    if (parseCidr(cidr) === null) {
      throw usage(
        `--allow-upstream: expected an IP address or CIDR such as 169.254.169.254/32, got '${cidr}'`,
      );
    }
  }
  const allowedHosts = allowedHostsOption(
    '--allowed-host',
    opts.allowedHost,
    'FAULTLINE_PROXY_ALLOWED_HOSTS',
    process.env,
  );
  // The config is read and checked before anything listens: a bad file is exit 2, nothing started.
  let config: Awaited<ReturnType<typeof import('../proxy/config.js').loadProxyConfig>> | undefined;
  if (opts.config) {
    const { loadProxyConfig } = await import('../proxy/config.js');
    config = await loadProxyConfig(opts.config);
    for (const w of config.warnings) out.warn(`${opts.config}: ${w}`);
  }

  const { ProxyManager } = await import('../proxy/manager.js');
  const { ProxyApiError } = await import('../proxy/model.js');
  const { AddressRefused } = await import('../proxy/proxy.js');
  // A proxy whose listen names no host ("", ":8080") binds every interface in Toxiproxy. While the API is
  // loopback-only, such proxies stay on loopback too: nothing becomes reachable from the network by omission.
  const loopback = isLoopbackHost(opts.host) ? opts.host.replace(/^\[(.*)\]$/, '$1') : undefined;
  // Without a token, whoever reaches the API (any local user, a DNS-rebinding page) would otherwise
  // choose what this host exposes to the network; with one, the API's clients are authenticated.
  const allowPublicListen = opts.allowPublicListen === true || token !== undefined;
  const manager = new ProxyManager({
    ...(loopback ? { host: loopback === 'localhost' ? '127.0.0.1' : loopback } : {}),
    allowPublicListen,
    allowUpstream,
  });
  // Known before it binds unless the port is 0: config proxies to the API are refused too.
  if (opts.port !== 0) manager.addControlAddress(opts.host, opts.port);
  let api: Awaited<ReturnType<typeof startControlServer>> | undefined;
  let registered: import('../proxy/registry.js').RegisteredServer | undefined;
  const stop = waitForSignal();
  try {
    if (config) {
      try {
        const proxies = await manager.populate(config.proxies);
        for (const p of proxies) out.info(`proxy ${describeProxy(p)}`);
      } catch (err) {
        if (err instanceof AddressRefused && err.index !== undefined) {
          const path = `[${err.index}].${err.field}`;
          throw new FaultlineError(
            'FAULTLINE_ERR_CONFIG',
            `proxy config ${opts.config}: ${path}: ${err.reason}`,
            {
              cause: err,
              issues: [{ path, message: err.reason }],
            },
          );
        }
        const reason = err instanceof ProxyApiError ? err.message : (err as Error).message;
        throw new FaultlineError('FAULTLINE_ERR_CONFIG', `proxy config ${opts.config}: ${reason}`, {
          cause: err,
        });
      }
    }
    api = await startControlServer({
      control: manager,
      host: opts.host,
      port: opts.port,
      ...(token ? { token } : {}),
      ...(allowedHosts.length > 0 ? { allowedHosts } : {}),
      // SDK fault control under /faultline/sdk/v1 (docs/sdk.md), behind the same guards.
      mounts: [sdkControlMount()],
      onEvent: (e) => {
        if (e.type === 'request')
          out.debug(`${e.method} ${e.path} ${e.status} ${e.durationMs}ms`, { requestId: e.requestId });
        else out.error(`proxy API: ${e.error.message}`);
      },
    });
    manager.addControlAddress(api.host, api.port);
    // `faultline status` lists this server's toxics and `faultline halt` reverts them.
    const [{ registerProxyServer }, { faultlineHome }] = await Promise.all([
      import('../proxy/registry.js'),
      import('../faults/home.js'),
    ]);
    const home = faultlineHome();
    registered = await registerProxyServer({
      home,
      api: api.url,
      role: 'server',
      manager,
      onError: (err) => out.warn(`cannot update the proxy registry in ${home}: ${err.message}`),
      onHalt: (reverted) =>
        out.summary(
          `faultline halt: ${reverted.length} fault(s) reverted on this proxy; new toxics are refused until \`faultline halt --release\``,
        ),
    }).catch((err: Error) => {
      out.warn(
        `cannot register in ${home} (${err.message}): \`faultline status\` will not list this proxy's toxics and \`faultline halt\` will not revert them`,
      );
      return undefined;
    });
    if (!allowPublicListen) {
      out.info(
        'proxies listen on loopback only (the API has no token; --allow-public-listen to change that)',
      );
    }
    if (allowedHosts.length > 0)
      out.info(`the API also answers to Host ${allowedHosts.join(', ')} (--allowed-host)`);
    out.summary(
      `faultline proxy: API listening on ${api.url} (Toxiproxy 2.x compatible${token ? ', token required' : ''})`,
    );
    const signal = await stop.promise;
    out.info(`received ${signal}: closing the API and every proxy`);
  } finally {
    stop.dispose();
    await registered?.close();
    await api?.close();
    await manager.close();
  }
  out.info('proxy stopped');
  return 0;
}

// --- client subcommands ---------------------------------------------------------------------------

export async function proxyListCommand(opts: ClientOptions, out: Output): Promise<number> {
  const client = await clientFor(opts);
  const proxies = Object.values(await client.proxies()).sort((a, b) => (a.name < b.name ? -1 : 1));
  if (opts.json) {
    printJson(Object.fromEntries(proxies.map((p) => [p.name, p])));
    return 0;
  }
  if (proxies.length === 0) {
    out.summary(`no proxies on ${client.url}`);
    return 0;
  }
  printText(
    table(
      ['NAME', 'LISTEN', 'UPSTREAM', 'ENABLED', 'TOXICS'],
      proxies.map((p) => [
        p.name,
        p.listen,
        p.upstream,
        p.enabled ? 'yes' : 'no',
        p.toxics.length ? p.toxics.map((t) => t.name).join(',') : '-',
      ]),
    ),
  );
  return 0;
}

export async function proxyGetCommand(name: string, opts: ClientOptions): Promise<number> {
  const p = await (await clientFor(opts)).getProxy(name);
  if (opts.json) printJson(p);
  else printText(`${[describeProxy(p), ...p.toxics.map((t) => `  ${describeToxic(t)}`)].join('\n')}\n`);
  return 0;
}

export async function proxyCreateCommand(
  name: string,
  opts: ClientOptions & { listen: string; upstream: string; disabled?: boolean },
  out: Output,
): Promise<number> {
  const p = await (await clientFor(opts)).createProxy({
    name,
    listen: opts.listen,
    upstream: opts.upstream,
    ...(opts.disabled ? { enabled: false } : {}),
  });
  if (opts.json) printJson(p);
  else out.summary(`created proxy ${describeProxy(p)}`);
  return 0;
}

export async function proxyUpdateCommand(
  name: string,
  opts: ClientOptions & { listen?: string; upstream?: string; enable?: boolean; disable?: boolean },
  out: Output,
): Promise<number> {
  if (opts.enable && opts.disable) throw usage('--enable and --disable cannot be used together');
  const patch = {
    ...(opts.listen === undefined ? {} : { listen: opts.listen }),
    ...(opts.upstream === undefined ? {} : { upstream: opts.upstream }),
    ...(opts.enable ? { enabled: true } : opts.disable ? { enabled: false } : {}),
  };
  if (Object.keys(patch).length === 0)
    throw usage('nothing to change: pass --listen, --upstream, --enable or --disable');
  const p = await (await clientFor(opts)).updateProxy(name, patch);
  if (opts.json) printJson(p);
  else out.summary(`updated proxy ${describeProxy(p)}`);
  return 0;
}

export async function proxyDeleteCommand(name: string, opts: ClientOptions, out: Output): Promise<number> {
  await (await clientFor(opts)).deleteProxy(name);
  out.summary(`deleted proxy ${name}`);
  return 0;
}

export async function proxyPopulateCommand(file: string, opts: ClientOptions, out: Output): Promise<number> {
  const { loadProxyConfig } = await import('../proxy/config.js');
  const config = await loadProxyConfig(file);
  for (const w of config.warnings) out.warn(`${file}: ${w}`);
  const proxies = await (await clientFor(opts)).populate(
    config.proxies as { name: string; upstream: string; listen?: string; enabled?: boolean }[],
  );
  if (opts.json) printJson(proxies);
  else for (const p of proxies) out.summary(`proxy ${describeProxy(p)}`);
  return 0;
}

export async function proxyResetCommand(opts: ClientOptions, out: Output): Promise<number> {
  const client = await clientFor(opts);
  await client.reset();
  out.summary(`reset ${client.url}: every proxy enabled, every toxic removed`);
  return 0;
}

export async function toxicListCommand(proxy: string, opts: ClientOptions, out: Output): Promise<number> {
  const toxics = await (await clientFor(opts)).toxics(proxy);
  if (opts.json) printJson(toxics);
  else if (toxics.length === 0) out.summary(`no toxics on ${proxy}`);
  else printText(`${toxics.map(describeToxic).join('\n')}\n`);
  return 0;
}

export async function toxicAddCommand(
  proxy: string,
  opts: ClientOptions & {
    type: string;
    name?: string;
    stream?: string;
    toxicity?: number;
    attribute: string[];
    ttl?: number;
  },
  out: Output,
): Promise<number> {
  const attributes = parseAttributes(opts.attribute);
  const toxic = await (await clientFor(opts)).addToxic(proxy, {
    type: opts.type,
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.stream === undefined ? {} : { stream: opts.stream }),
    ...(opts.toxicity === undefined ? {} : { toxicity: opts.toxicity }),
    ...(opts.attribute.length ? { attributes } : {}),
    ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
  });
  if (opts.json) printJson(toxic);
  else out.summary(`added toxic to ${proxy}: ${describeToxic(toxic)}`);
  return 0;
}

export async function toxicUpdateCommand(
  proxy: string,
  name: string,
  opts: ClientOptions & { toxicity?: number; attribute: string[]; ttl?: number },
  out: Output,
): Promise<number> {
  if (opts.toxicity === undefined && opts.attribute.length === 0 && opts.ttl === undefined) {
    throw usage('nothing to change: pass --toxicity, --attribute or --ttl');
  }
  const toxic = await (await clientFor(opts)).updateToxic(proxy, name, {
    ...(opts.toxicity === undefined ? {} : { toxicity: opts.toxicity }),
    ...(opts.attribute.length ? { attributes: parseAttributes(opts.attribute) } : {}),
    ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
  });
  if (opts.json) printJson(toxic);
  else out.summary(`updated toxic on ${proxy}: ${describeToxic(toxic)}`);
  return 0;
}

export async function toxicRemoveCommand(
  proxy: string,
  name: string,
  opts: ClientOptions,
  out: Output,
): Promise<number> {
  await (await clientFor(opts)).removeToxic(proxy, name);
  out.summary(`removed toxic ${name} from ${proxy}`);
  return 0;
}

// --- registration ---------------------------------------------------------------------------------

function clientOptions(cmd: Command, json = true): Command {
  cmd
    .option('--url <url>', `control API URL (env FAULTLINE_PROXY_URL, default ${DEFAULT_URL})`)
    .option(
      '--token <token>',
      'API token; prefer the env FAULTLINE_PROXY_TOKEN: a command-line argument is visible to every local user',
    );
  if (json) cmd.option('--json', 'print JSON on stdout');
  return cmd;
}

/**
 * Adds `faultline proxy ...` to the program. Created with `program.command()` so the
 * subcommands inherit exitOverride and the output configuration.
 */
export function registerProxyCommands(program: Command, out: () => Output): void {
  const proxy = program
    .command('proxy')
    .description('run the Toxiproxy-compatible fault proxy (default), or manage a running one');
  const done = (code: number) => {
    process.exitCode = code;
  };

  const serve = proxy
    .command('serve', { isDefault: true })
    .description('run the proxy and its Toxiproxy-compatible HTTP API until SIGINT/SIGTERM')
    .option('--host <host>', 'API listen address (non-loopback requires a token)', '127.0.0.1')
    .option('--port <port>', 'API port (0 picks a free one)', parsePort, 8474)
    .option(
      '--config <file>',
      'JSON or YAML array of proxies (as /populate takes) created before the API starts',
    )
    .option(
      '--token <token>',
      'require this token on every API request; prefer the env FAULTLINE_PROXY_TOKEN: a command-line argument is visible to every local user',
    )
    .option(
      '--allow-public-listen',
      'let proxies listen beyond loopback although the API has no token (any local user can then expose ports)',
    )
    .option(
      '--allow-upstream <cidr>',
      'let proxies forward to this link-local range (169.254.0.0/16, fe80::/10, fd00:ec2::254 are refused: cloud metadata); repeatable',
      collect,
      [],
    )
    .option(
      '--allowed-host <name>',
      'a name clients use to reach the API besides localhost and IP addresses (.example.com: that name and its subdomains); needed without a token when clients connect by another name, e.g. an /etc/hosts alias. Requests whose Host is not allowed get 403 (DNS-rebinding protection); with a token, given names are checked too. Repeatable; env FAULTLINE_PROXY_ALLOWED_HOSTS (comma-separated)',
      collect,
      [],
    )
    .action(async (opts: ServeOptions) => {
      done(await proxyServeCommand(opts, out()));
    });
  // `faultline proxy` alone runs the server, so its help must show the server's options (--port...).
  proxy.addHelpText('after', () => {
    const help = serve.createHelp();
    const options = help.visibleOptions(serve).filter((o) => o.long !== '--help');
    const width = Math.max(...options.map((o) => help.optionTerm(o).length));
    const lines = options.map((o) => `  ${help.optionTerm(o).padEnd(width)}  ${help.optionDescription(o)}`);
    return `\nServer options (\`faultline proxy [serve] [options]\`):\n${lines.join('\n')}`;
  });

  clientOptions(proxy.command('list').description('list the proxies of a running server')).action(
    async (opts) => done(await proxyListCommand(opts, out())),
  );
  clientOptions(proxy.command('get').description('show one proxy and its toxics'))
    .argument('<name>', 'proxy name')
    .action(async (name: string, opts) => done(await proxyGetCommand(name, opts)));
  clientOptions(proxy.command('create').description('create a proxy'))
    .argument('<name>', 'proxy name')
    .requiredOption('--listen <host:port>', 'address to listen on (port 0 picks a free one)')
    .requiredOption('--upstream <host:port>', 'address to forward to')
    .option('--disabled', 'create it without listening')
    .action(async (name: string, opts) => done(await proxyCreateCommand(name, opts, out())));
  clientOptions(proxy.command('update').description('change a proxy (listen, upstream, enabled)'))
    .argument('<name>', 'proxy name')
    .option('--listen <host:port>', 'new listen address')
    .option('--upstream <host:port>', 'new upstream address')
    .option('--enable', 'enable it')
    .option('--disable', 'disable it (closes the listener and every connection)')
    .action(async (name: string, opts) => done(await proxyUpdateCommand(name, opts, out())));
  clientOptions(proxy.command('delete').description('delete a proxy (closes its connections)'), false)
    .argument('<name>', 'proxy name')
    .action(async (name: string, opts) => done(await proxyDeleteCommand(name, opts, out())));
  clientOptions(proxy.command('populate').description('create or replace proxies from a JSON/YAML file'))
    .argument('<file>', 'JSON or YAML array of proxies')
    .action(async (file: string, opts) => done(await proxyPopulateCommand(file, opts, out())));
  clientOptions(
    proxy.command('reset').description('enable every proxy and remove every toxic'),
    false,
  ).action(async (opts) => done(await proxyResetCommand(opts, out())));

  const toxic = proxy.command('toxic').description("manage a proxy's toxics");
  clientOptions(toxic.command('list').description("list a proxy's toxics"))
    .argument('<proxy>', 'proxy name')
    .action(async (p: string, opts) => done(await toxicListCommand(p, opts, out())));
  clientOptions(toxic.command('add').description('add a toxic to a proxy'))
    .argument('<proxy>', 'proxy name')
    .requiredOption(
      '--type <type>',
      'latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop, ...',
    )
    .option('--name <name>', 'toxic name (default <type>_<stream>)')
    .addOption(
      new Option('--stream <stream>', 'direction (default downstream)').choices(['upstream', 'downstream']),
    )
    .option('--toxicity <p>', 'probability per connection, 0..1 (default 1)', parseNumber('--toxicity', 0))
    .option('--attribute <key=value>', 'toxic attribute (repeatable), e.g. latency=100', collect, [])
    .option('--ttl <ms>', 'remove the toxic automatically after this many milliseconds', parseTtl)
    .action(async (p: string, opts) => done(await toxicAddCommand(p, opts, out())));
  clientOptions(toxic.command('update').description("change a toxic's toxicity or attributes (merged)"))
    .argument('<proxy>', 'proxy name')
    .argument('<name>', 'toxic name')
    .option('--toxicity <p>', 'probability per connection, 0..1', parseNumber('--toxicity', 0))
    .option('--attribute <key=value>', 'attribute to change (repeatable)', collect, [])
    .option('--ttl <ms>', 'remove the toxic after this many milliseconds from now', parseTtl)
    .action(async (p: string, name: string, opts) => done(await toxicUpdateCommand(p, name, opts, out())));
  clientOptions(toxic.command('remove').description('remove a toxic'), false)
    .argument('<proxy>', 'proxy name')
    .argument('<name>', 'toxic name')
    .action(async (p: string, name: string, opts) => done(await toxicRemoveCommand(p, name, opts, out())));
}
