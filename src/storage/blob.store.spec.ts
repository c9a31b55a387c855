import fsp from 'node:fs/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FsBlobStore } from './blob.store';

/**
 * What a power loss could undo is what was not synced before the caller moved on: these record the order of opens,
 * fsyncs and renames the filesystem store makes, since no test here can cut the power.
 */
describe('FsBlobStore durability', () => {
  let root: string;
  let store: FsBlobStore;
  let events: string[];
  const restore: (() => void)[] = [];

  beforeAll(async () => {
    const probe = join(tmpdir(), `fh-probe-${process.pid}`);
    const fh = await fsp.open(probe, 'w');
    const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void>; datasync: () => Promise<void> };
    await fh.close();
    await fsp.rm(probe);
    const { open: realOpen, rename: realRename } = fsp;
    const { sync: realSync, datasync: realDatasync } = proto;
    const open = jest.spyOn(fsp, 'open').mockImplementation((path, flags, mode) => {
      events.push(`open ${String(path).replace(root, '~')} ${String(flags ?? 'r')}`);
      return realOpen(path, flags, mode);
    });
    const rename = jest.spyOn(fsp, 'rename').mockImplementation((from, to) => {
      events.push(`rename ${String(to).replace(root, '~')}`);
      return realRename(from, to);
    });
    proto.sync = function (this: unknown) {
      events.push('sync');
      return realSync.call(this);
    };
    proto.datasync = function (this: unknown) {
      events.push('datasync');
      return realDatasync.call(this);
    };
    restore.push(
      () => open.mockRestore(),
      () => rename.mockRestore(),
      () => Object.assign(proto, { sync: realSync, datasync: realDatasync }),
    );
  });

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'blob-durability-'));
    store = new FsBlobStore(root);
    events = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  afterAll(() => restore.forEach((f) => f()));

  it('write syncs new directories into their parents, the bytes before the rename, and the directory after it', async () => {
    expect(await store.write('files/a', Readable.from([Buffer.from('hello '), Buffer.from('world')]))).toBe(11);
    expect(readFileSync(join(root, 'files/a'), 'utf8')).toBe('hello world');
    const order = events.map((e) => e.replace(/~\/tmp\/\S+\.part/, '~/tmp/<part>'));
    expect(order).toEqual([
      // tmp/ and files/ are new: each name is synced into the root.
      'open ~ r',
      'sync',
      'open ~ r',
      'sync',
      'open ~/tmp/<part> r+',
      'sync',
      'rename ~/files/a',
      'open ~/files r',
      'sync',
    ]);
    events = [];
    await store.write('files/b', Readable.from([Buffer.from('x')]));
    expect(events.filter((e) => e.startsWith('open ~ '))).toEqual([]);
  });

  it('writeBuffer syncs new directories into their parents, the bytes before the rename, and the directory after it', async () => {
    await store.writeBuffer('batches/b/state', '{"x":1}');
    const order = events.map((e) => e.replace(/state\.\w+\.tmp/, 'state.<tmp>'));
    expect(order).toEqual([
      // batches/ and batches/b/ are new.
      'open ~/batches r',
      'sync',
      'open ~ r',
      'sync',
      'open ~/batches/b/state.<tmp> w',
      'sync',
      'rename ~/batches/b/state',
      'open ~/batches/b r',
      'sync',
    ]);
  });

  it('openAppend leaves a new part file’s name to its first sync with bytes, before any checkpoint can count them', async () => {
    await fsp.mkdir(join(root, 'batches/b'), { recursive: true });
    const part = await store.openAppend('batches/b/out.0', 0);
    // Opening touches no disk: a chunk's first request goes out without waiting for fsyncs.
    expect(events).toEqual(['open ~/batches/b/out.0 a+']);
    events = [];
    // Nothing appended: no checkpoint counts a byte of it, so its name need not be durable yet.
    await part.sync();
    expect(events).toEqual([]);
    await part.append('line\n');
    await part.sync();
    // The bytes, then the name in its directory; both before sync returns (and the checkpoint is saved).
    expect(events).toEqual(['datasync', 'open ~/batches/b r', 'sync']);
    events = [];
    await part.append('more\n');
    await part.sync();
    expect(events).toEqual(['datasync']);
    await part.close();
    events = [];
    const again = await store.openAppend('batches/b/out.0', 5);
    await again.append('x\n');
    await again.sync();
    await again.close();
    // An existing part's name is durable already: its syncs are the bytes alone.
    expect(events).toEqual(['open ~/batches/b/out.0 a+', 'datasync']);
  });

  it('a part file’s sync with nothing appended since the last one does not touch the disk', async () => {
    const part = await store.openAppend('batches/b/out.0', 0);
    await part.append('line\n');
    await part.sync();
    events = [];
    await part.sync();
    expect(events).toEqual([]);
    await part.append('more\n');
    await part.sync();
    expect(events).toEqual(['datasync']);
    await part.close();
  });

  it('a write that lands while a sync runs is synced by the next one', async () => {
    const part = await store.openAppend('batches/b/out.0', 0);
    await part.append('a\n');
    await part.sync();
    const landing = part.append('b\n');
    await part.sync();
    await landing;
    events = [];
    await part.sync();
    expect(events).toEqual(['datasync']);
    expect(part.size).toBe(4);
    await part.close();
  });

  it('read takes readBytes at a time when asked, over the whole blob or a range', async () => {
    await store.writeBuffer('files/r', 'abcdefghij');
    const chunks = async (stream: Readable) => {
      const got: string[] = [];
      for await (const b of stream) got.push((b as Buffer).toString());
      return got;
    };
    expect(await chunks(store.read('files/r', undefined, 4))).toEqual(['abcd', 'efgh', 'ij']);
    expect(await chunks(store.read('files/r', { start: 1, end: 8 }, 3))).toEqual(['bcd', 'efg', 'h']);
    expect(await chunks(store.read('files/r', { start: 1, end: 8 }))).toEqual(['bcdefgh']);
  });
});
