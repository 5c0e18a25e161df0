#!/usr/bin/env node
// From ./program, not ./index: index also re-exports the key environment (registry.ts, which loads tfjs), and a
// start must load only the commands' registration.
import { runDpkd } from './program';

process.exitCode = await runDpkd(process.argv);
