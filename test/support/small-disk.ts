import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small tmpfs mounted at a directory, to fill the disk under a running service on purpose. */
export class SmallDisk {
  private constructor(readonly path: string) {}

  /** Whether this machine lets the test mount a tmpfs (root in a sandbox that allows it). */
  static available(): boolean {
    const probe = mkdtempSync(join(tmpdir(), 'tmpfs-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      rmdirSync(probe);
    }
  }

  /** Mounts a tmpfs of `bytes` at `path` (created if missing). */
  static mount(path: string, bytes: number): SmallDisk {
    mkdirSync(path, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', path]);
    return new SmallDisk(path);
  }

  /** Grows or shrinks the filesystem in place; its files stay. */
  resize(bytes: number): void {
    execFileSync('mount', ['-o', `remount,size=${bytes}`, this.path]);
  }

  /** Makes the filesystem read-only (true) or writable again (false). */
  remountReadOnly(readOnly: boolean): void {
    execFileSync('mount', ['-o', `remount,${readOnly ? 'ro' : 'rw'}`, this.path]);
  }

  /** Total bytes. */
  size(): number {
    const s = statfsSync(this.path);
    return s.blocks * s.bsize;
  }

  /** Bytes still free. */
  free(): number {
    const s = statfsSync(this.path);
    return s.bavail * s.bsize;
  }

  /** Takes every free byte with a filler file; returns its path (delete it to give the space back). */
  fill(): string {
    const filler = join(this.path, 'filler.bin');
    try {
      writeFileSync(filler, Buffer.alloc(this.free()));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
    return filler;
  }

  unmount(): void {
    execFileSync('umount', ['-l', this.path]);
  }
}
