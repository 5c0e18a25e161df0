import { expect, test } from 'vitest';
import { runCli } from './run-cli';

test('dpkd --help lists the commands and exits 0', () => {
  const r = runCli(['--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Usage: dpkd');
});

test('an unknown command exits 2', () => {
  const r = runCli(['no-such-command']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/unknown command|too many arguments/);
});
