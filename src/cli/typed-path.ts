// A path as a user types it, or drags a file into the terminal, at one of the menu's questions.
// No shell reads that answer, yet terminals paste a dragged file the way a shell wants it:
// quoted ('/home/me/My File.pdf', "C:\My Files\x.txt") or with its spaces and specials
// backslash-escaped (/Users/me/My\ File\ \(1\).pdf), and people type ~ for their home.
import { posix, win32 } from 'node:path';

/** A backslash before anything but a letter or digit: the shell's escape (\ , \(, \', \\ …). */
const SHELL_ESCAPE = /\\([^A-Za-z0-9])/g;

/**
 * The path meant by `text`: trimmed; one pair of matching surrounding quotes (single or double)
 * removed, what they enclose taken literally; otherwise backslash escapes undone (not on
 * Windows, where a backslash separates folders); a leading `~` or `~/` made `home`.
 */
export function typedPath(text: string, home: string, platform: NodeJS.Platform = process.platform): string {
  const trimmed = text.trim();
  const quoted = /^(['"])([\s\S]*)\1$/.exec(trimmed);
  // Inside quotes nothing is an escape (a Windows path keeps its backslashes), but for the shell's
  // way to write ' within '…': '\'' — what a terminal pastes for a dragged "It's.pdf".
  const literal = quoted === null ? null : quoted[1] === "'" ? quoted[2]!.replaceAll("'\\''", "'") : quoted[2]!;
  const source = literal ?? trimmed;
  // Expanded in quotes too, unlike a shell: someone who quotes "~/My File.pdf" means their home.
  const tilde = (platform === 'win32' ? /^~(?=$|[\\/])/ : /^~(?=$|\/)/).test(source);
  const rest = tilde ? source.slice(1) : source;
  const path = literal !== null || platform === 'win32' ? rest : rest.replace(SHELL_ESCAPE, '$1');
  return tilde ? (platform === 'win32' ? win32 : posix).join(home, path) : path;
}
