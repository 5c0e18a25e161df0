import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Temp files, scratch dirs and lock files carry the pid and a short tag of the host that made
 * them, so a later process can tell "left by a dead process on this machine" (safe to remove)
 * from "in use" or "made on another machine sharing this directory" (not ours to judge).
 * The tag is a hash so that host names with dots or slashes cannot break file names.
 */
export const hostTag: string = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** `<label>.<pid>.<hostTag>.<random>`: a name no other process or call can pick. */
export function tempName(label: string): string {
  const safeLabel = label.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'tmp';
  return `${safeLabel}.${process.pid}.${hostTag}.${randomBytes(6).toString('hex')}`;
}

/** The pid and host tag encoded by `tempName`, or undefined for a name it did not make. */
export function parseTempName(name: string): { pid: number; hostTag: string } | undefined {
  const match = /\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]{12}(?:\.tmp)?$/.exec(name);
  return match ? { pid: Number(match[1]), hostTag: match[2]! } : undefined;
}

/**
 * Whether a process with this pid exists on this machine. Signal 0 checks without signalling;
 * EPERM means it exists but belongs to another user. A recycled pid reads as alive, which errs
 * on the safe side (a lock or temp file is kept, never wrongly removed).
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
