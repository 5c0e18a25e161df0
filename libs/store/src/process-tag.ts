import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

/** This boot of the machine (Linux: /proc/sys/kernel/random/boot_id); undefined where the OS does not say. */
const bootId: string | undefined = readProcFile('/proc/sys/kernel/random/boot_id')?.trim();

/**
 * Who a pid is, beyond its number: `<boot id>/<start time>` on Linux, where the start time is field 22 of
 * /proc/<pid>/stat (clock ticks after boot). A pid reused by an unrelated process, or a pid from an earlier
 * boot, has a different identity. Undefined when the process does not exist or the OS has no /proc.
 */
export function processIdentity(pid: number): string | undefined {
  if (!bootId || !Number.isInteger(pid) || pid <= 0) return undefined;
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields 3.. follow the last ')'.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  return start ? `${bootId}/${start}` : undefined;
}

/** This process's identity (see processIdentity), computed once. */
export const ownIdentity: string | undefined = processIdentity(process.pid);

/**
 * Whether the process that recorded (pid, identity) is still running on this machine. With an identity
 * (Linux) this is exact: a recycled pid or a pid of an earlier boot is not the same process. Without one
 * (another OS, or a record from an older dpkd) it falls back to "some process has this pid".
 */
export function isSameLiveProcess(pid: number, identity: string | undefined): boolean {
  if (!isProcessAlive(pid)) return false;
  if (identity === undefined || ownIdentity === undefined) return true;
  return processIdentity(pid) === identity;
}

function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
