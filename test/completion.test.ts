// Shell completion (`p2pfx completion bash|zsh|fish`, issue 16): each script as the built CLI
// prints it, checked by its own shell where that shell is installed, and run there on command
// lines: bash through COMP_WORDS and the real function, fish through `complete --do-complete`,
// zsh with its completion system's builtins replaced by printers (they only work inside a
// completion widget). The program's own commands and options are the expected answers, so a
// command added without completion fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Command } from 'commander';
import { ARGUMENT_VALUES, OPTION_VALUES } from '../src/cli/completion-model.js';
import { SHELLS, type Shell } from '../src/cli/completion-scripts.js';
import { buildProgram } from '../src/cli/program.js';
import { assertNoStack, cleanEnv, cliPath, runCli, tempHome } from './helpers/cli.js';
import { makeNetwork } from './helpers/network.js';

/** A shell run on a few command lines should be done well within this. */
const SHELL_TIMEOUT_MS = 30_000;
const END = '--end--';

function installed(shell: Shell): boolean {
  return spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
}

const SYNTAX_CHECK: Record<Shell, string[]> = { bash: ['-n'], zsh: ['-n'], fish: ['--no-execute'] };

/**
 * The words each command line is completed to, one list per line. A line is split at spaces; one
 * ending in a space completes an empty word. Bash gets COMP_WORDS as readline would give them
 * (so `--out=` must be written `--out = `, as bash splits it).
 */
const DRIVERS: Record<Shell, { args: (script: string, lines: string[]) => string[] }> = {
  bash: {
    args: (script, lines) => ['--norc', '-c', `
      source "$1"; shift
      for line in "$@"; do
        read -ra COMP_WORDS <<< "$line"
        [[ $line == *' ' ]] && COMP_WORDS+=('')
        COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMP_LINE=$line; COMP_POINT=\${#line}; COMPREPLY=()
        _p2pfx
        (( \${#COMPREPLY[@]} )) && printf '%s\\n' "\${COMPREPLY[@]}"
        echo ${END}
      done`, 'bash', script, ...lines],
  },
  fish: {
    args: (script, lines) => ['--no-config', '-c', `
      source $argv[1]
      for line in $argv[2..-1]
        complete --do-complete "$line" | string replace -r '\\t.*' ''
        echo ${END}
      end`, script, ...lines],
  },
  zsh: {
    // compadd, _describe, _files and _message print what they were given (that matches the word);
    // _files and _message say which kind of value was asked for.
    args: (script, lines) => ['-f', '-c', `
      compdef() { : }
      compset() { : }
      _describe() { print -rl -- \${(M)\${\${(P)4}%%:*}:#\${words[CURRENT]}*} }
      compadd() { [[ $1 == -a ]] && print -rl -- \${(M)\${(P)2}:#\${words[CURRENT]}*} }
      _files() { if [[ $1 == -/ ]]; then print -r -- '<directories>'; else print -r -- '<files>'; fi }
      _message() { print -r -- '<message>' }
      source $1; shift
      for line in "$@"; do
        words=(\${(s: :)line}); [[ $line == *' ' ]] && words+=('')
        CURRENT=$#words
        _p2pfx
        print -r -- ${END}
      done`, 'zsh', script, ...lines],
  },
};

interface Completer {
  script: string;
  complete(lines: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): string[][];
}

/** The script as `p2pfx completion SHELL` prints it, written to a file, and a way to complete lines with it. */
async function completer(t: TestContext, shell: Shell): Promise<Completer> {
  const r = await runCli(t, ['completion', shell]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const dir = await tempHome(t, 'p2pfx-completion-');
  const script = join(dir, `p2pfx.${shell}`);
  await writeFile(script, r.stdout);
  return {
    script,
    complete(lines, opts = {}) {
      const run = spawnSync(shell, DRIVERS[shell].args(script, lines), { cwd: opts.cwd ?? dir, env: opts.env ?? process.env, encoding: 'utf8', timeout: SHELL_TIMEOUT_MS });
      assert.equal(run.status, 0, `${shell} completing ${JSON.stringify(lines)}: exit ${run.status}\n${run.stderr}`);
      assert.equal(run.stderr, '', `${shell} said something on stderr`);
      const blocks = run.stdout.split(`${END}\n`);
      assert.equal(blocks.pop(), '', `${shell} output ends with a block`);
      assert.equal(blocks.length, lines.length, `one block per line\n${run.stdout}`);
      // Folders come with a trailing slash from fish, without one from bash's compgen.
      return blocks.map((b) => b.split('\n').filter((w) => w !== '').map((w) => w.replace(/\/$/, '')).sort());
    },
  };
}

/** Every command path of the program, with its subcommands and long options (the program's own, global ones too). */
function programCommands(program: Command): Array<{ path: string; subcommands: string[]; options: string[] }> {
  const globals = program.options.filter((o) => o.long !== '--version').map((o) => o.long!);
  const out: Array<{ path: string; subcommands: string[]; options: string[] }> = [];
  const visit = (cmd: Command, path: string[]): void => {
    out.push({
      path: path.join(' '),
      subcommands: cmd.commands.map((c) => c.name()),
      options: [...new Set([...cmd.options.filter((o) => !o.hidden).map((o) => o.long!), '--help', ...(path.length ? globals : [])])],
    });
    for (const c of cmd.commands) visit(c, [...path, c.name()]);
  };
  visit(program, []);
  return out;
}

for (const shell of SHELLS) {
  test(`completion ${shell}: the script is valid ${shell}`, async (t) => {
    const c = await completer(t, shell);
    assert.match(await readFile(c.script, 'utf8'), new RegExp(`^(#compdef p2pfx\\n)?# ${shell} completion for p2pfx`));
    // bash is everywhere p2pfx's scripts run: its check never skips.
    if (shell !== 'bash' && !installed(shell)) return t.skip(`${shell} is not installed: its syntax check cannot run`);
    const check = spawnSync(shell, [...SYNTAX_CHECK[shell], c.script], { encoding: 'utf8', timeout: SHELL_TIMEOUT_MS });
    assert.equal(check.status, 0, `${shell} ${SYNTAX_CHECK[shell].join(' ')}: ${check.stderr}`);
    assert.equal(check.stderr, '');
  });

  test(`completion ${shell}: every command, subcommand and long option of the program is offered`, async (t) => {
    if (!installed(shell)) return t.skip(`${shell} is not installed: the script cannot be run`);
    const c = await completer(t, shell);
    const commands = programCommands(buildProgram());
    assert.ok(commands.some((x) => x.path === 'certs issue'), 'the walk sees nested commands');
    const line = (path: string, word: string) => ['p2pfx', ...(path ? [path] : []), word].join(' ');
    const withSubs = commands.filter((x) => x.subcommands.length > 0);
    const subs = c.complete(withSubs.map((x) => line(x.path, '')));
    withSubs.forEach((x, i) => {
      for (const name of x.subcommands) assert.ok(subs[i]!.includes(name), `${shell}: \`${line(x.path, '')}\` should offer ${name}; offered ${subs[i]!.join(' ')}`);
    });
    // `certs` runs `certs create` by default, so `p2pfx certs --` is completed for `certs` itself.
    const options = c.complete(commands.map((x) => line(x.path, '--')));
    commands.forEach((x, i) => {
      for (const long of x.options) assert.ok(options[i]!.includes(long), `${shell}: \`${line(x.path, '--')}\` should offer ${long}; offered ${options[i]!.join(' ')}`);
    });
  });

  test(`completion ${shell}: \`p2pfx se\` offers send and serve; paths, folders and values where each is asked`, async (t) => {
    if (!installed(shell)) return t.skip(`${shell} is not installed: the script cannot be run`);
    const c = await completer(t, shell);
    const dir = await tempHome(t, 'p2pfx-completion-cwd-');
    await mkdir(join(dir, 'photos'));
    await mkdir(join(dir, 'papers'));
    await writeFile(join(dir, 'plan.txt'), 'x');
    const [se, certs, send, out, port, idArg] = c.complete(['p2pfx se', 'p2pfx certs ', 'p2pfx send --json p', 'p2pfx get x --out p', 'p2pfx serve --port ', 'p2pfx id '], { cwd: dir });
    assert.ok(se!.includes('send') && se!.includes('serve'), `p2pfx se: ${se!.join(' ')}`);
    assert.ok(se!.every((w) => w.startsWith('se')), `p2pfx se: ${se!.join(' ')}`);
    assert.deepEqual(certs!.filter((w) => w !== 'help'), ['create', 'issue', 'list', 'revoke']);
    const files = shell === 'zsh' ? ['<files>'] : ['papers', 'photos', 'plan.txt'];
    const folders = shell === 'zsh' ? ['<directories>'] : ['papers', 'photos'];
    assert.deepEqual(send, files, 'send takes a file or a folder');
    assert.deepEqual(out, folders, '--out takes a folder');
    // A port is a word: nothing is offered (zsh says a value is expected).
    assert.deepEqual(port, shell === 'zsh' ? ['<message>'] : []);
    assert.deepEqual(idArg, shell === 'zsh' ? ['<message>'] : []);
  });

  test(`completion ${shell}: --peer offers the names in the book of the home the line names`, async (t) => {
    if (!installed(shell)) return t.skip(`${shell} is not installed: the script cannot be run`);
    const c = await completer(t, shell);
    const net = await makeNetwork(t);
    const a = await net.add('alpha', { serve: false });
    for (const name of ['beta', 'gamma']) {
      const peer = await net.add(name, { serve: false });
      a.node.db.notePeer({ nodeId: peer.node.creds.nodeId, name, host: '127.0.0.1', port: 1, source: 'added' });
    }
    // The scripts run `p2pfx completion --peers`: a p2pfx on the PATH, the built one.
    const bin = join(net.dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'p2pfx'), `#!/bin/sh\nexec '${process.execPath}' '${cliPath}' "$@"\n`);
    await chmod(join(bin, 'p2pfx'), 0o755);
    const env = cleanEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` });
    const home = a.home.root;
    const [send, getG, remove, elsewhere] = c.complete([
      `p2pfx send x --home ${home} --peer `, `p2pfx --home ${home} get x --peer g`, `p2pfx --home ${home} peers remove `, 'p2pfx send x --peer ',
    ], { env });
    assert.deepEqual(send, ['beta', 'gamma']);
    assert.deepEqual(getG, ['gamma']);
    assert.deepEqual(remove, ['beta', 'gamma']);
    assert.deepEqual(elsewhere, [], 'no home named and none in the current folder: no names');
    const [fromEnv] = c.complete(['p2pfx files --peer '], { env: { ...env, P2PFX_HOME: home } });
    assert.deepEqual(fromEnv, ['beta', 'gamma'], '$P2PFX_HOME is the home when the line names none');
  });
}

test('completion --peers prints the book\'s names; without a home or a book it prints nothing, exits 0 and makes nothing', async (t) => {
  const net = await makeNetwork(t);
  const a = await net.add('alpha', { serve: false });
  const b = await net.add('beta', { serve: false });
  a.node.db.notePeer({ nodeId: b.node.creds.nodeId, name: 'beta', host: '127.0.0.1', port: 1, source: 'added' });
  const listed = await runCli(t, ['completion', '--peers', '--home', a.home.root]);
  assert.deepEqual([listed.code, listed.stdout, listed.stderr], [0, 'beta\n', '']);

  const empty = await tempHome(t);
  for (const home of [empty, join(empty, 'not-made')]) {
    const r = await runCli(t, ['completion', '--peers', '--home', home]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', ''], `home ${home}`);
  }
  assert.deepEqual(await readdir(empty), [], 'no index, no folder made');
  // A file where the index should be: still nothing, and no error in the middle of a command line.
  await writeFile(join(empty, 'p2pfx.db'), 'not a database');
  const broken = await runCli(t, ['completion', '--peers', '--home', empty]);
  assert.deepEqual([broken.code, broken.stdout, broken.stderr], [0, '', '']);
});

test('completion with an unknown shell, or none, is a usage error naming the three shells', async (t) => {
  for (const args of [['completion', 'tcsh'], ['completion']]) {
    const r = await runCli(t, args);
    assert.equal(r.code, 2, `p2pfx ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /^error: .*bash, zsh, fish/m);
    assert.match(r.stderr, /--help/);
    assert.equal(r.stdout, '');
    assertNoStack(r);
  }
  const help = await runCli(t, ['completion', '--help']);
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.stdout, /--peers/, 'the scripts\' helper is not shown to users');
});

test('the completion model\'s value rules each name an option or argument the program has', () => {
  const commands = programCommands(buildProgram());
  const options = new Set(commands.flatMap((c) => c.options));
  for (const long of Object.keys(OPTION_VALUES)) assert.ok(options.has(long), `OPTION_VALUES names ${long}, which no command has`);
  const program = buildProgram();
  for (const key of Object.keys(ARGUMENT_VALUES)) {
    const m = /^(.*) <(.+)>$/.exec(key);
    assert.ok(m, key);
    let cmd: Command | undefined = program;
    for (const name of m[1]!.split(' ')) cmd = cmd?.commands.find((c) => c.name() === name);
    assert.ok(cmd?.registeredArguments.some((a) => a.name() === m[2]), `ARGUMENT_VALUES names ${key}, which the program does not have`);
  }
});
