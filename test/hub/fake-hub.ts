import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Hugging Face Hub stand-in on 127.0.0.1 with the URL layout models:pull uses: the model info API, `resolve`
 * URLs that 302 LFS files to a second server (a "CDN" on another origin, so tests can see where the token goes),
 * Range requests, and injectable faults (dropped connections, corrupt bytes, HTTP errors).
 */

export interface FakeFile {
  path: string;
  content: Buffer;
  /** Stored in LFS: served through the CDN redirect, listed with its sha256. */
  lfs?: boolean;
}

export interface FakeRepo {
  id: string;
  commit: string;
  /** Branch and tag names → commit; `main` always resolves to `commit`. */
  refs?: Record<string, string>;
  files: FakeFile[];
  /** Only requests with `Authorization: Bearer <token>` see it. */
  gatedToken?: string;
}

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  path: string;
  range?: string;
  authorization?: string;
}

export interface Faults {
  /**
   * Path → for each of the next responses in turn, destroy the socket after this many body bytes. How many of
   * them the client reads first is up to the network stack (a stream error discards its queue).
   */
  drop: Map<string, number[]>;
  /**
   * Path → for each of the next responses in turn, end the body cleanly after exactly this many bytes (sent
   * chunked, without Content-Length), like a proxy that gives up: the client sees every byte, deterministically.
   */
  truncate: Map<string, number[]>;
  /** Paths served with one byte flipped (same size, wrong sha256). */
  corrupt: Set<string>;
  /** Answer range requests with the whole file (200), like servers without range support. */
  ignoreRange: boolean;
  /** Leave sizes and LFS info out of the model info, as the API does without `blobs=true`. */
  hideBlobs: boolean;
  /** Tokens the hub refuses (expired, revoked): any request carrying one gets 401 "Invalid credentials". */
  refusedTokens: Set<string>;
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The object id git gives a file's content, which the hub sends as the ETag of a non-LFS file. */
export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

/** Deterministic filler bytes, so a test can recompute what a file should hold. */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A tiny SD-style repository in the diffusers ONNX layout, plus the files models:pull must skip. */
export function tinyRepoFiles(options: { className?: string; pad?: string; weightsSize?: number } = {}): FakeFile[] {
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value, null, 2));
  return [
    { path: '.gitattributes', content: Buffer.from('*.onnx filter=lfs\n') },
    { path: 'README.md', content: Buffer.from('# tiny\n') },
    { path: 'sample.png', content: bytes(1, 500), lfs: true },
    {
      path: 'model_index.json',
      content: json({ _class_name: options.className ?? 'OnnxStableDiffusionPipeline', _diffusers_version: '0.30.0' }),
    },
    {
      path: 'scheduler/scheduler_config.json',
      content: json({ _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading', num_train_timesteps: 1000 }),
    },
    { path: 'tokenizer/vocab.json', content: json({ '!': 0, 'a</w>': 1 }) },
    { path: 'tokenizer/merges.txt', content: Buffer.from('#version: 0.2\na b\n') },
    { path: 'tokenizer/special_tokens_map.json', content: json({ pad_token: options.pad ?? '<|endoftext|>' }) },
    { path: 'tokenizer/tokenizer_config.json', content: json({ model_max_length: 77 }) },
    { path: 'text_encoder/model.onnx', content: bytes(2, 20_000), lfs: true },
    { path: 'unet/model.onnx', content: bytes(3, 3_000), lfs: true },
    { path: 'unet/weights.pb', content: bytes(4, options.weightsSize ?? 200_000), lfs: true },
    { path: 'unet/diffusion_pytorch_model.safetensors', content: bytes(5, 10_000), lfs: true },
    { path: 'vae_decoder/model.onnx', content: bytes(6, 8_000), lfs: true },
    { path: 'vae_decoder/config.json', content: json({ scaling_factor: 0.18215 }) },
    { path: 'vae_encoder/model.onnx', content: bytes(7, 6_000), lfs: true },
    { path: 'safety_checker/model.onnx', content: bytes(8, 9_000), lfs: true },
    { path: 'feature_extractor/preprocessor_config.json', content: json({ size: 224 }) },
  ];
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  readonly faults: Faults = {
    drop: new Map(),
    truncate: new Map(),
    corrupt: new Set(),
    ignoreRange: false,
    hideBlobs: false,
    refusedTokens: new Set(),
  };
  url = '';
  cdnUrl = '';
  readonly #repos: FakeRepo[];
  readonly #hub = http.createServer((req, res) => this.#serveHub(req, res));
  readonly #cdn = http.createServer((req, res) => this.#serveCdn(req, res));

  private constructor(repos: FakeRepo[]) {
    this.#repos = repos;
  }

  static async start(repos: FakeRepo[]): Promise<FakeHub> {
    const hub = new FakeHub(repos);
    hub.url = await listen(hub.#hub);
    hub.cdnUrl = await listen(hub.#cdn);
    return hub;
  }

  async close(): Promise<void> {
    for (const server of [this.#hub, this.#cdn]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Requests for one repository file, through the hub or the CDN. */
  fileRequests(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(`/${path}`) || r.path === `/blobs/${this.#shaOf(path)}`);
  }

  #shaOf(path: string): string | undefined {
    for (const repo of this.#repos) {
      const file = repo.files.find((f) => f.path === path);
      if (file) return sha256(file.content);
    }
    return undefined;
  }

  #record(server: 'hub' | 'cdn', req: http.IncomingMessage): URL {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      server,
      path: decodeURIComponent(url.pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    return url;
  }

  #findRepo(id: string, req: http.IncomingMessage, res: http.ServerResponse): FakeRepo | undefined {
    const repo = this.#repos.find((r) => r.id === id);
    if (!repo) {
      res.writeHead(401, { 'X-Error-Code': 'RepoNotFound' }).end('{"error":"Repository Not Found"}');
      return undefined;
    }
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      res.writeHead(req.headers.authorization ? 403 : 401, { 'X-Error-Code': 'GatedRepo' }).end('{"error":"gated"}');
      return undefined;
    }
    return repo;
  }

  #resolveRev(repo: FakeRepo, rev: string): string | undefined {
    if (rev === repo.commit) return rev;
    return { main: repo.commit, ...repo.refs }[rev];
  }

  #serveHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = this.#record('hub', req);
    const path = decodeURIComponent(url.pathname);
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (token !== undefined && this.faults.refusedTokens.has(token)) {
      const message = 'Invalid credentials in Authorization header';
      res.writeHead(401, { 'X-Error-Message': message }).end(JSON.stringify({ error: message }));
      return;
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (api) {
      const repo = this.#findRepo(api[1], req, res);
      if (!repo) return;
      const commit = this.#resolveRev(repo, api[2]);
      if (!commit) {
        res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' }).end('{"error":"Revision Not Found"}');
        return;
      }
      const blobs = url.searchParams.get('blobs') === 'true' && !this.faults.hideBlobs;
      const siblings = repo.files.map((f) =>
        blobs
          ? {
              rfilename: f.path,
              size: f.content.length,
              ...(f.lfs ? { lfs: { sha256: sha256(f.content), size: f.content.length, pointerSize: 134 } } : {}),
            }
          : { rfilename: f.path },
      );
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: repo.id, sha: commit, siblings }));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve) {
      const repo = this.#findRepo(resolve[1], req, res);
      if (!repo) return;
      const commit = this.#resolveRev(repo, resolve[2]);
      const file = repo.files.find((f) => f.path === resolve[3]);
      if (!commit || !file) {
        res.writeHead(404, { 'X-Error-Code': commit ? 'EntryNotFound' : 'RevisionNotFound' }).end();
        return;
      }
      const sha = sha256(file.content);
      const headers = { 'X-Repo-Commit': commit, ETag: `"${file.lfs ? sha : gitBlobSha1(file.content)}"` };
      if (file.lfs) {
        res
          .writeHead(302, {
            ...headers,
            'X-Linked-Etag': `"${sha}"`,
            'X-Linked-Size': String(file.content.length),
            // A signed URL, like the real CDN's: it must never show up in logs or errors.
            Location: `${this.cdnUrl}/blobs/${sha}?X-Amz-Signature=cdn-secret-signature`,
          })
          .end();
        return;
      }
      this.#sendFile(file, req, res, headers);
      return;
    }
    res.writeHead(404).end();
  }

  #serveCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = this.#record('cdn', req);
    const sha = url.pathname.replace('/blobs/', '');
    const file = this.#repos.flatMap((r) => r.files).find((f) => f.lfs && sha256(f.content) === sha);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    this.#sendFile(file, req, res, { ETag: `"${sha}"` });
  }

  #sendFile(file: FakeFile, req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>) {
    let content = file.content;
    if (this.faults.corrupt.has(file.path)) {
      content = Buffer.from(content);
      content[content.length >> 1] ^= 0xff;
    }
    const size = content.length;
    let start = 0;
    const cutAt = this.faults.truncate.get(file.path)?.shift();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.faults.ignoreRange) {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        'Content-Range': `bytes ${start}-${size - 1}/${size}`,
        ...(cutAt === undefined ? { 'Content-Length': String(size - start) } : {}),
      });
    } else {
      res.writeHead(200, { ...headers, ...(cutAt === undefined ? { 'Content-Length': String(size) } : {}) });
    }
    const body = content.subarray(start);
    if (cutAt !== undefined) {
      res.end(body.subarray(0, cutAt));
      return;
    }
    const afterBytes = this.faults.drop.get(file.path)?.shift();
    if (afterBytes !== undefined) {
      // Send part of the body, then cut the connection the way a flaky network does.
      res.write(body.subarray(0, afterBytes), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  }
}
