// The command line: every command, its options, and how errors become exit codes
// (0 success, 1 a user-facing error, 2 usage).
import { Argument, Command, CommanderError, Option } from 'commander';
import { DEFAULT_PORT } from '../core/limits.js';
import { VERSION } from '../version.js';
import { checkHomeFolder, interrupted, type GlobalOptions } from './context.js';
import { printable, reportError } from './output.js';

// Each command loads its modules when it runs: `send` need not load the server, nor `get` the
// certificate builder (less start-up time and memory).
const certsModule = () => import('./commands/certs.js');
const listing = () => import('./commands/listing.js');
const enrollModule = () => import('./commands/enroll.js');
const peersModule = () => import('./commands/peers.js');
const transfer = () => import('./commands/transfer.js');
const storage = () => import('./commands/storage.js');

const PASSWORD_ENV = 'P2PFX_PASSWORD';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function passwordOption(): Option {
  return new Option('--password <password>', `password envelope for the file's key (or set $${PASSWORD_ENV})`).env(PASSWORD_ENV);
}

export function buildProgram(): Command {
  const program = new Command('p2pfx')
    .description('Exchange files between machines on a LAN: encrypted chunks over mutual TLS, no cloud, no account.')
    .version(VERSION, '-V, --version')
    .option('--home <dir>', 'the node\'s home folder (default $P2PFX_HOME, else the per-user data folder; `p2pfx doctor` says which)', (v: string) => checkHomeFolder(v))
    .option('--json', 'print data as JSON on stdout')
    .option('--debug', 'print stacks with errors, and the server log')
    .showHelpAfterError('(run with --help for usage)')
    // Usage errors echo what was typed: control characters there are shown escaped, never sent raw.
    .configureOutput({ writeErr: (text) => process.stderr.write(printable(text)) })
    .exitOverride();

  const g = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  // Options live on the leaves: `certs` runs `certs create` when no subcommand is named.
  const certs = program.command('certs').description('the network CA and node certificates (create, issue, list, revoke)');
  certs.command('create', { isDefault: true })
    .description('create the network CA (if absent) and this node\'s certificate')
    .option('--name <name>', 'this node\'s name (default: host name)')
    .option('--ip <addr>', 'an extra address for the certificate (repeatable)', collect)
    .option('--dns <name>', 'an extra DNS name for the certificate (repeatable)', collect)
    .option('--force', 'replace existing certificates')
    .action(async (opts, cmd: Command) => (await certsModule()).certsCommand(g(cmd), opts));
  certs.command('issue <name>')
    .description('issue a certificate bundle for another machine (the CA key stays here)')
    .option('--ip <addr>', 'an address of that machine (repeatable)', collect)
    .option('--dns <name>', 'a DNS name of that machine (repeatable)', collect)
    .option('--out <dir>', 'where to write the bundle (default: HOME/bundles/NAME)')
    .option('--force', 'replace an existing bundle')
    .action(async (name: string, opts, cmd: Command) => (await certsModule()).certsIssueCommand(g(cmd), name, opts));

  certs.command('list')
    .description('list the certificates this CA issued (CA machine)')
    .action(async (_opts, cmd: Command) => (await certsModule()).certsListCommand(g(cmd)));
  certs.command('revoke <name-or-id>')
    .description('revoke a node\'s certificate: a new signed CRL, which spreads to every node (CA machine)')
    .option('--reason <reason>', 'unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn')
    .action(async (target: string, opts, cmd: Command) => (await certsModule()).certsRevokeCommand(g(cmd), target, opts));

  program.command('invite')
    .description('let a new machine join this network: a one-time code (CA machine; waits until it is used)')
    .option('--expires <duration>', 'how long the code works, e.g. 90s, 10m, 1h', '10m')
    .option('--port <port>', `port of the enrollment listener (default ${DEFAULT_PORT + 1})`)
    .option('--host <addr>', 'address the enrollment listener binds', '0.0.0.0')
    .action(async (opts, cmd: Command) => (await enrollModule()).inviteCommand(g(cmd), opts));

  program.command('join <host[:port]> <code>')
    .description('join the network of the CA at HOST with the code `p2pfx invite` printed there (this machine\'s key never leaves it)')
    .option('--name <name>', 'this node\'s name (default: host name)')
    .option('--ip <addr>', 'an extra address for the certificate (repeatable)', collect)
    .option('--force', 'replace this home\'s existing certificates')
    .action(async (hostPort: string, code: string, opts, cmd: Command) => (await enrollModule()).joinCommand(g(cmd), hostPort, code, opts));

  const peers = program.command('peers').description('the peer book: known peers, each checked (add, remove, discover)');
  peers.command('list', { isDefault: true })
    .description('list the peers in the book, and whether each answers now')
    .option('--no-check', 'do not contact the peers')
    .action(async (opts, cmd: Command) => (await peersModule()).peersListCommand(g(cmd), opts));
  peers.command('add <host[:port]>')
    .description('add the node at an address to the book, once a handshake has shown its node id')
    .action(async (address: string, _opts, cmd: Command) => (await peersModule()).peersAddCommand(g(cmd), address));
  peers.command('remove <name-or-id>')
    .description('remove a peer from the book')
    .action(async (which: string, _opts, cmd: Command) => (await peersModule()).peersRemoveCommand(g(cmd), which));
  peers.command('discover')
    .description('listen for nodes announcing themselves on the LAN; add those whose handshake shows the id they announce')
    .option('--seconds <n>', 'how long to listen (default 3)')
    .action(async (opts, cmd: Command) => (await peersModule()).peersDiscoverCommand(g(cmd), opts));

  program.command('serve')
    .description('run this node: answer peers over HTTPS with mutual TLS')
    .option('--port <port>', 'port to listen on (0: any free port)', String(DEFAULT_PORT))
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--no-discovery', 'do not announce this node on the LAN, nor listen for others')
    .option('--ui', 'also serve the web UI on 127.0.0.1 (its URL, with a token, is printed)')
    .option('--ui-port <port>', 'port of the web UI (default: any free port)')
    .option('--open', 'with --ui: open the UI in the browser')
    .option('--max-store <size>', 'keep at most this much of chunks sent to this node (e.g. 50G); past it, a send is refused with INSUFFICIENT_STORAGE before anything is written')
    .option('--downloads <dir>', 'where files sent to this node land (default $P2PFX_DOWNLOADS, else `p2pfx config downloads`, else ~/Downloads/p2pfx)')
    .action(async (opts, cmd: Command) => (await import('./commands/serve.js')).serveCommand(g(cmd), opts));

  program.command('ui')
    .description('run this node with its web UI (127.0.0.1 only; the URL printed carries a token)')
    .option('--port <port>', 'port of the node\'s API for peers (0: any free port)', String(DEFAULT_PORT))
    .option('--host <addr>', 'address the node\'s API listens on', '0.0.0.0')
    .option('--ui-port <port>', 'port of the web UI (default: any free port)')
    .option('--no-open', 'do not open the browser')
    .option('--no-discovery', 'do not announce this node on the LAN, nor listen for others')
    .option('--downloads <dir>', 'where files sent to this node, and downloads from the UI, land (default $P2PFX_DOWNLOADS, else `p2pfx config downloads`, else ~/Downloads/p2pfx)')
    .action(async (opts, cmd: Command) => (await import('./commands/serve.js')).serveCommand(g(cmd), { ...opts, ui: true }));

  const service = program.command('service').description('run `p2pfx serve` for this home as a systemd user service (restarted on failure, started at login)');
  service.command('install')
    .description('write the unit (~/.config/systemd/user/p2pfx-NAME.service), enable and start it')
    .option('--print', 'print the unit instead of installing it')
    .option('--no-start', 'write the unit only')
    .option('--port <port>', 'port the node serves on', String(DEFAULT_PORT))
    .option('--host <addr>', 'address the node serves on', '0.0.0.0')
    .option('--no-discovery', 'do not announce the node on the LAN')
    .action(async (opts, cmd: Command) => (await import('./commands/service.js')).serviceInstallCommand(g(cmd), opts));
  service.command('uninstall')
    .description('stop and disable the service, and remove its unit')
    .action(async (_opts, cmd: Command) => (await import('./commands/service.js')).serviceUninstallCommand(g(cmd)));

  program.command('send <file-or-folder>')
    .description('send a file or a folder to peers, which can open it (only the chunks each lacks travel)')
    .option('--peer <peer>', 'a peer to send to: HOST[:PORT], or a name or node id from the peer book (repeatable; default: every peer in the book)', collect)
    .addOption(passwordOption())
    .option('--chunk-size <size>', 'plaintext bytes per chunk, e.g. 1M (default 1 MiB)')
    .option('--concurrency <n>', 'chunks in flight (default 8)')
    .option('--all', 'send to every peer in the peer book (what no --peer means)')
    .option('--storage-only', 'the peer only stores the chunks: no key for it, it cannot open the file')
    .action(async (file: string, opts, cmd: Command) => (await transfer()).sendCommand(g(cmd), file, opts));

  program.command('get <id-or-name>')
    .description('download a file or folder into the current folder, from every peer that holds it at once')
    .option('--peer <peer>', 'a peer to download from: HOST[:PORT], or a name or node id from the peer book (repeatable; default: every peer in the book, all at once)', collect)
    .addOption(passwordOption())
    .option('--out <dir>', 'the folder to save it in (default: the current folder)')
    .option('--concurrency <n>', 'chunks in flight (default 8)')
    .action(async (ref: string, opts, cmd: Command) => (await transfer()).getCommand(g(cmd), ref, opts));

  program.command('files')
    .description('list the files in the peers\' catalogs, merged')
    .option('--peer <peer>', 'a peer to ask: HOST[:PORT], or a name or node id from the peer book (repeatable; default: every peer in the book)', collect)
    .addOption(passwordOption())
    .option('--all', 'list every version of a name (not only the newest from each sender), and the member files of folders in the old per-file format')
    .action(async (opts, cmd: Command) => (await listing()).filesCommand(g(cmd), opts));

  program.command('chunks')
    .description('list the chunks held here, or on a peer with --peer; --verify re-hashes every chunk held here')
    .option('--peer <host[:port]>', 'the peer to ask')
    .option('--limit <n>', 'how many to list (default 1000)')
    .option('--verify', 're-hash every chunk here; move those whose bytes are not their id to chunks/.quarantine/ (exit 1 if any)')
    .action(async (opts, cmd: Command) => (await listing()).chunksCommand(g(cmd), opts));

  program.command('du')
    .description('what this node holds: its chunks (named by a file of its catalog, or by none) and the files it received')
    .action(async (_opts, cmd: Command) => (await storage()).duCommand(g(cmd)));

  program.command('rm <name-or-id>')
    .description('forget a file of this node\'s catalog and the chunks no other file uses (a file received here stays)')
    .action(async (ref: string, _opts, cmd: Command) => (await storage()).rmCommand(g(cmd), ref));

  program.command('prune')
    .description('remove the chunks no file of the catalog names and unfinished temporaries, older than a grace period')
    .option('--grace <duration>', 'keep what is younger than this: a send may still be on its way (default 1h; 0 for none)')
    .action(async (opts, cmd: Command) => (await storage()).pruneCommand(g(cmd), opts));

  program.command('id')
    .description('print this node\'s id')
    .action(async (_opts, cmd: Command) => (await listing()).idCommand(g(cmd)));

  program.command('config')
    .description('this home\'s settings: `config downloads DIR` sets where files sent to this node land; `config downloads` says where they land now')
    .addArgument(new Argument('[key]', 'the setting').choices(['downloads']))
    .argument('[value]', 'its new value')
    .option('--unset', 'remove the setting (back to $P2PFX_DOWNLOADS or the default)')
    .action(async (key: string | undefined, value: string | undefined, opts, cmd: Command) => (await import('./commands/config.js')).configCommand(g(cmd), key, value, opts));

  program.command('doctor')
    .description('check this node: home, certificates and their dates, CRL, API port, multicast, and whether each peer in the book answers (exit 1 if any check FAILs)')
    .option('--port <port>', 'the API port `serve` uses here', String(DEFAULT_PORT))
    .action(async (opts, cmd: Command) => (await import('./commands/doctor.js')).doctorCommand(g(cmd), opts));

  program.command('completion [shell]')
    .description('print the completion script for bash, zsh or fish (README "Shell completion" says how to load it)')
    .addOption(new Option('--peers', 'print the peer book\'s names, one a line (what the scripts run)').hideHelp())
    .action(async (shell: string | undefined, opts, cmd: Command) => (await import('./commands/completion.js')).completionCommand(g(cmd), cmd, shell, opts));

  program.command('menu')
    .description('the guided menu (also what `p2pfx` with no arguments opens on a terminal)')
    .action(async (_opts, cmd: Command) => (await import('./menu.js')).menuCommand(g(cmd)));

  return program;
}

/** True when argv names no command: nothing, or only --home DIR, --json, --debug. */
function onlyGlobalOptions(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json' || a === '--debug' || a.startsWith('--home=')) continue;
    if (a === '--home' && i + 1 < args.length) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

/** Runs the CLI and resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  const args = argv.slice(2);
  if (onlyGlobalOptions(args)) {
    if (process.stdin.isTTY && process.stdout.isTTY) args.push('menu');
    else {
      program.outputHelp();
      return 0;
    }
  }
  try {
    await program.parseAsync([argv[0] ?? 'node', argv[1] ?? 'p2pfx', ...args]);
    // A command that did part of its work (a send where one peer of several failed) says so here.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
    }
    const opts = program.opts<GlobalOptions>();
    const code = reportError(err, { debug: opts.debug ?? args.includes('--debug'), json: opts.json ?? false });
    // Interrupted by Ctrl-C: the shell's convention (128 + SIGINT), once the user was told how to resume.
    return err instanceof Error && interrupted.has(err) ? 130 : code;
  }
}
