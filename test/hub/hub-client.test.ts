import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { checkRepoId, HubClient, HubRequestError, parseHubEndpoint, redactSecret } from '../../src/hub/hub-client.js';
import { FakeHub, gitBlobSha1, sha256, tinyRepoFiles } from './fake-hub.js';

const COMMIT = 'd'.repeat(40);
let hub: FakeHub | undefined;
let extra: http.Server | undefined;

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  if (extra) {
    extra.closeAllConnections();
    await new Promise<void>((resolve) => extra!.close(() => resolve()));
    extra = undefined;
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  extra = http.createServer(handler);
  await new Promise<void>((resolve) => extra!.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(extra.address() as AddressInfo).port}`;
}

describe('parseHubEndpoint', () => {
  it('defaults to huggingface.co and drops trailing slashes of a mirror', () => {
    expect(parseHubEndpoint(undefined)).toBe('https://huggingface.co');
    expect(parseHubEndpoint('  ')).toBe('https://huggingface.co');
    expect(parseHubEndpoint('https://hf-mirror.com/')).toBe('https://hf-mirror.com');
    expect(parseHubEndpoint('http://10.0.0.5:8080/hub//')).toBe('http://10.0.0.5:8080/hub');
  });

  it('rejects anything that is not an http(s) URL, naming the variable', () => {
    expect(() => parseHubEndpoint('hf-mirror.com')).toThrow('HF_ENDPOINT must be an http(s) URL; got "hf-mirror.com".');
    expect(() => parseHubEndpoint('ftp://x')).toThrow(UserError);
  });
});

describe('checkRepoId', () => {
  it('accepts owner/name ids and refuses paths and URLs', () => {
    expect(() => checkRepoId('stabilityai/sd-turbo')).not.toThrow();
    expect(() => checkRepoId('gpt2')).not.toThrow();
    for (const bad of ['../etc', 'a/b/c', 'https://huggingface.co/a/b', 'a/..', '', 'a/b.git']) {
      expect(() => checkRepoId(bad), bad).toThrow(/is not a Hugging Face repository id: use owner\/name/);
    }
  });
});

describe('redactSecret', () => {
  it('replaces every occurrence of the token', () => {
    expect(redactSecret('Bearer hf_abc and hf_abc', 'hf_abc')).toBe('Bearer [HF_TOKEN] and [HF_TOKEN]');
    expect(redactSecret('nothing', undefined)).toBe('nothing');
  });
});

describe('HubClient', () => {
  it('lists files with sizes and LFS hashes and resolves the revision to a commit', async () => {
    const files = tinyRepoFiles();
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, refs: { onnx: COMMIT }, files }]);
    const snapshot = await new HubClient({ endpoint: hub.url }).getRepoSnapshot('o/r', 'onnx');
    expect(snapshot.commit).toBe(COMMIT);
    expect(snapshot.revision).toBe('onnx');
    const weights = files.find((f) => f.path === 'unet/weights.pb')!;
    expect(snapshot.files.find((f) => f.path === 'unet/weights.pb')).toEqual({
      path: 'unet/weights.pb',
      size: weights.content.length,
      sha256: sha256(weights.content),
    });
    expect(snapshot.files.find((f) => f.path === 'model_index.json')?.sha256).toBeUndefined();
    expect(hub.requests[0].path).toBe('/api/models/o/r/revision/onnx');
  });

  it('encodes a revision with slashes such as refs/pr/2 as one path segment', async () => {
    let seen = '';
    const url = await serve((req, res) => {
      seen = req.url ?? '';
      res.end(JSON.stringify({ sha: COMMIT, siblings: [] }));
    });
    await new HubClient({ endpoint: url }).getRepoSnapshot('o/r', 'refs/pr/2');
    expect(seen).toBe('/api/models/o/r/revision/refs%2Fpr%2F2?blobs=true');
  });

  it('reads the LFS hash from the tree-API spelling `oid` too', async () => {
    const oid = 'e'.repeat(64);
    const url = await serve((_req, res) =>
      res.end(JSON.stringify({ sha: COMMIT, siblings: [{ rfilename: 'unet/model.onnx', lfs: { oid, size: 7 } }] })),
    );
    const snapshot = await new HubClient({ endpoint: url }).getRepoSnapshot('o/r', 'main');
    expect(snapshot.files).toEqual([{ path: 'unet/model.onnx', size: 7, sha256: oid }]);
  });

  it('follows the CDN redirect without the token and reports LFS size and hash from the hub headers', async () => {
    const files = tinyRepoFiles();
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, files, gatedToken: 'hf_tok' }]);
    const download = await new HubClient({ endpoint: hub.url, token: 'hf_tok' }).download('o/r', COMMIT, 'unet/weights.pb', 1000);
    const weights = files.find((f) => f.path === 'unet/weights.pb')!.content;
    expect(download).toMatchObject({ status: 206, start: 1000, totalSize: weights.length, linkedSha256: sha256(weights) });
    const body = Buffer.from(await new Response(download!.body).arrayBuffer());
    expect(body.equals(weights.subarray(1000))).toBe(true);
    expect(hub.requests.map((r) => [r.server, r.authorization, r.range])).toEqual([
      ['hub', 'Bearer hf_tok', 'bytes=1000-'],
      ['cdn', undefined, 'bytes=1000-'],
    ]);
  });

  it('reports the git blob sha1 ETag of a non-LFS file, and none for an LFS file', async () => {
    const files = tinyRepoFiles();
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, files }]);
    const client = new HubClient({ endpoint: hub.url });
    const index = files.find((f) => f.path === 'model_index.json')!.content;
    const plain = await client.download('o/r', COMMIT, 'model_index.json');
    await plain!.body.cancel();
    expect(plain!.gitBlobSha1).toBe(gitBlobSha1(index));
    expect(plain!.linkedSha256).toBeUndefined();
    const lfs = await client.download('o/r', COMMIT, 'unet/weights.pb');
    await lfs!.body.cancel();
    expect(lfs!.gitBlobSha1).toBeUndefined();
  });

  it('returns null when the resume offset is at the end of the file (416)', async () => {
    const files = tinyRepoFiles();
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, files }]);
    const size = files.find((f) => f.path === 'model_index.json')!.content.length;
    expect(await new HubClient({ endpoint: hub.url }).download('o/r', COMMIT, 'model_index.json', size)).toBeNull();
  });

  it('marks server errors and unreachable hosts as retryable, and leaves signed URLs out of messages', async () => {
    const url = await serve((_req, res) => res.writeHead(503).end());
    const error = await new HubClient({ endpoint: url }).getRepoSnapshot('o/r', 'main').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubRequestError);
    expect((error as HubRequestError).retryable).toBe(true);
    expect((error as HubRequestError).status).toBe(503);

    const closed = await serve((_req, res) => res.writeHead(302, { Location: 'http://127.0.0.1:1/blob?X-Amz-Signature=s3cr3t' }).end());
    const unreachable = await new HubClient({ endpoint: closed, token: 'hf_tok' })
      .download('o/r', COMMIT, 'unet/model.onnx')
      .catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(HubRequestError);
    expect((unreachable as HubRequestError).retryable).toBe(true);
    expect((unreachable as Error).message).toMatch(/^Cannot reach http:\/\/127\.0\.0\.1:1\/blob: /);
    expect((unreachable as Error).message).not.toContain('s3cr3t');
    expect((unreachable as Error).message).not.toContain('hf_tok');
  });
});
