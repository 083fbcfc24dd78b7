// What shell completion knows of the command line, read from the commander program itself
// (cli/program.ts): every command path, its subcommands, its options and what their values are.
// The scripts (cli/completion-scripts.ts) are rendered from this, so a command or an option added
// to the program is completed without anyone remembering to.
import { Help, type Command, type Option } from 'commander';

/**
 * What a value is, for completion: nothing (a flag), a word nothing can be offered for, a folder,
 * any path, a peer of the book, or one of a fixed list.
 */
export type ValueKind = 'none' | 'word' | 'directory' | 'path' | 'peer' | { choices: readonly string[] };

export interface CompletionOption {
  /** `--home`, and the short form when there is one (`-V`). */
  long: string;
  short: string | null;
  description: string;
  value: ValueKind;
  /** The program's own option, taken after any command too. */
  global: boolean;
}

export interface CompletionCommand {
  /** Names from the program down, space-separated: '' for the program, 'certs issue'. */
  path: string;
  description: string;
  subcommands: Array<{ name: string; description: string }>;
  /** This command's options and the program's own (global) ones, which commander takes anywhere. */
  options: CompletionOption[];
  /** One kind per positional argument; the last repeats when `variadic`. */
  args: ValueKind[];
  variadic: boolean;
}

export interface CompletionModel {
  program: string;
  /** The program first, then every command below it, depth first. */
  commands: CompletionCommand[];
}

/**
 * Option values that name something completion can list, by long option, wherever the option
 * appears; any other value is a word. A test checks each entry still names a real option.
 */
export const OPTION_VALUES: Readonly<Record<string, ValueKind>> = {
  '--home': 'directory',
  '--out': 'directory',
  '--downloads': 'directory',
  '--peer': 'peer',
};

/** Positional arguments that name something completion can list, as `COMMAND PATH <name>`. */
export const ARGUMENT_VALUES: Readonly<Record<string, ValueKind>> = {
  'send <file-or-folder>': 'path',
  'peers remove <name-or-id>': 'peer',
  // `config downloads DIR`, the one setting so far.
  'config <value>': 'directory',
};

/** Names written into shell code unquoted: anything else is a bug in the program, refused here. */
const SAFE_NAME = /^-{0,2}[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function completionModel(program: Command): CompletionModel {
  const help = program.createHelp();
  // The program's own options hold for every command (commander reads them after a subcommand
  // too); its --version and --help are the program's alone.
  const globals = program.options.filter((o) => !o.hidden && o.long !== '--version').map((o) => option(o, help, true));
  const commands: CompletionCommand[] = [];
  const visit = (cmd: Command, path: string[]): void => {
    const own = help.visibleOptions(cmd).map((o) => option(o, help, globals.some((g) => g.long === o.long)));
    const options = path.length === 0 ? own : [...own, ...globals.filter((g) => !own.some((o) => o.long === g.long))];
    const subs = help.visibleCommands(cmd);
    const key = path.join(' ');
    commands.push({
      path: key,
      description: help.subcommandDescription(cmd),
      subcommands: subs.map((s) => ({ name: safe(s.name()), description: help.subcommandDescription(s) })),
      options,
      args: cmd.registeredArguments.map((a) => ARGUMENT_VALUES[`${key} <${a.name()}>`] ?? (a.argChoices ? { choices: a.argChoices.map(safe) } : 'word')),
      variadic: cmd.registeredArguments.at(-1)?.variadic ?? false,
    });
    for (const sub of subs) visit(sub, [...path, sub.name()]);
  };
  visit(program, []);
  return { program: safe(program.name()), commands };
}

function option(o: Option, help: Help, global: boolean): CompletionOption {
  if (o.long === undefined) throw new Error(`option ${o.flags} has no long form: completion offers long options`);
  const takesValue = o.required || o.optional;
  const value: ValueKind = !takesValue ? 'none' : OPTION_VALUES[o.long] ?? (o.argChoices ? { choices: o.argChoices.map(safe) } : 'word');
  return { long: safe(o.long), short: o.short === undefined ? null : safe(o.short), description: help.optionDescription(o), value, global };
}

function safe(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`${JSON.stringify(name)} cannot be written into a completion script`);
  return name;
}
