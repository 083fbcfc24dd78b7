// `p2pfx completion bash|zsh|fish` prints the completion script for that shell, rendered from
// the program it runs in (so it names exactly the commands and options there are); and the
// hidden `completion --peers`, which the scripts run on Tab for the peer book's names.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { completionModel } from '../completion-model.js';
import { completionScript, isShell, SHELLS } from '../completion-scripts.js';
import { homeFor, outFor, type GlobalOptions } from '../context.js';

export async function completionCommand(g: GlobalOptions, cmd: Command, shell: string | undefined, opts: { peers?: boolean }): Promise<void> {
  if (opts.peers) return printPeerNames(g);
  const which = SHELLS.join(', ');
  // Usage errors, as commander's own: exit 2 and a pointer to --help.
  if (shell === undefined) cmd.error(`error: missing argument 'shell': one of ${which}`, { exitCode: 2, code: 'commander.missingArgument' });
  if (!isShell(shell)) cmd.error(`error: unknown shell '${shell}': p2pfx completes ${which}`, { exitCode: 2, code: 'commander.invalidArgument' });
  const program = cmd.parent;
  if (program === null) throw new Error('the completion command is not part of a program');
  outFor(g).line(completionScript(shell, completionModel(program), VERSION).trimEnd());
}

/**
 * The names in the peer book, one a line. Run on every Tab, so it is quick and quiet: no home, no
 * index, or anything wrong prints nothing and exits 0, and it never makes a file (a home that has
 * no index yet is left without one).
 */
async function printPeerNames(g: GlobalOptions): Promise<void> {
  let names: string[] = [];
  try {
    const home = homeFor(g, { quiet: true });
    if (!existsSync(home.dbPath)) return;
    const { IndexDb } = await import('../../store/index-db.js');
    const db = new IndexDb(home.dbPath);
    try {
      names = [...new Set(db.listPeers().map((p) => p.name))];
    } finally {
      db.close();
    }
  } catch {
    return; // completion offers nothing rather than an error in the middle of a command line
  }
  const out = outFor(g);
  for (const name of names) out.line(name);
}
