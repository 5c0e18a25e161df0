#!/usr/bin/env node
import { runDpkd } from './index';

process.exitCode = await runDpkd(process.argv);
