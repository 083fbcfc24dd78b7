// typedPath: a path as typed, or dragged into a terminal, at the menu's questions — each form a
// terminal pastes or a user types, with the path meant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { typedPath } from '../src/cli/typed-path.js';

const HOME = '/home/me';
const posixPath = (text: string) => typedPath(text, HOME, 'linux');

test('a plain path is kept, surrounding whitespace trimmed', () => {
  assert.equal(posixPath('/x/report.pdf'), '/x/report.pdf');
  assert.equal(posixPath('  relative/report.pdf \t'), 'relative/report.pdf');
  assert.equal(posixPath(''), '');
  assert.equal(posixPath('   '), '');
});

test('one pair of matching quotes is removed; what they enclose is literal', () => {
  // GNOME Terminal and Konsole paste a dragged file single-quoted, with a space after it.
  assert.equal(posixPath("'/home/me/My File.pdf' "), '/home/me/My File.pdf');
  assert.equal(posixPath('"/x/y z.txt"'), '/x/y z.txt');
  assert.equal(posixPath("'/x/a\\ b'"), '/x/a\\ b', 'no escapes inside quotes');
  assert.equal(posixPath('"/x/it\'s.txt"'), "/x/it's.txt");
  assert.equal(posixPath("'/x/\"quoted\".txt'"), '/x/"quoted".txt');
  assert.equal(posixPath("''"), '');
});

test('the shell\'s \'\\\'\' inside single quotes is a quote (as pasted for "It\'s.pdf")', () => {
  assert.equal(posixPath("'/x/It'\\''s.pdf'"), "/x/It's.pdf");
});

test('quotes that do not match, or do not surround the whole path, are part of the name', () => {
  assert.equal(posixPath("'/x/y.txt"), "'/x/y.txt");
  assert.equal(posixPath('"/x/y.txt\''), '"/x/y.txt\'');
  assert.equal(posixPath("/x/it's.txt"), "/x/it's.txt");
  assert.equal(posixPath("'"), "'");
});

test('unquoted, backslash-escaped spaces and shell specials are unescaped', () => {
  // macOS Terminal and iTerm paste a dragged file this way; so does bash's completion.
  assert.equal(posixPath('/x/y\\ z.txt'), '/x/y z.txt');
  assert.equal(posixPath('/Users/me/My\\ File\\ \\(1\\).pdf'), '/Users/me/My File (1).pdf');
  assert.equal(posixPath("/x/It\\'s\\ \\&\\ \\[a\\]\\!.txt"), "/x/It's & [a]!.txt");
  assert.equal(posixPath('/x/back\\\\slash'), '/x/back\\slash');
  assert.equal(posixPath('/x/tab\\\there'), '/x/tab\there');
  // A backslash before a letter or digit is no shell escape anyone pastes: kept.
  assert.equal(posixPath('/x/a\\b\\1'), '/x/a\\b\\1');
});

test('a leading ~ or ~/ is the home folder, in every form', () => {
  assert.equal(posixPath('~'), HOME);
  assert.equal(posixPath('~/'), `${HOME}/`);
  assert.equal(posixPath('~/Documents/report.pdf'), `${HOME}/Documents/report.pdf`);
  assert.equal(posixPath('~/My\\ File.pdf'), `${HOME}/My File.pdf`);
  assert.equal(posixPath("'~/My File.pdf'"), `${HOME}/My File.pdf`);
  assert.equal(posixPath(' "~/My File.pdf" '), `${HOME}/My File.pdf`);
});

test('a ~ anywhere else, ~user, or an escaped \\~ is left as it is', () => {
  assert.equal(posixPath('/x/~/y'), '/x/~/y');
  assert.equal(posixPath('~other/y'), '~other/y');
  assert.equal(posixPath('~.txt'), '~.txt');
  assert.equal(posixPath('\\~/y'), '~/y');
});

test('on Windows a backslash separates folders: nothing is unescaped, ~\\ is home too', () => {
  assert.equal(typedPath('C:\\Users\\me\\My Files\\(1).txt', 'C:\\Users\\me', 'win32'), 'C:\\Users\\me\\My Files\\(1).txt');
  assert.equal(typedPath('"C:\\My Files\\x.txt"', 'C:\\Users\\me', 'win32'), 'C:\\My Files\\x.txt');
  assert.equal(typedPath('"\\\\server\\share\\x.txt"', 'C:\\Users\\me', 'win32'), '\\\\server\\share\\x.txt');
  assert.equal(typedPath('~\\Documents\\x.txt', 'C:\\Users\\me', 'win32'), 'C:\\Users\\me\\Documents\\x.txt');
});
