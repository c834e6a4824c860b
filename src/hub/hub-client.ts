import { z } from 'zod';
import { Identifiers, UserError } from '../errors.js';

/** The public Hugging Face Hub; HF_ENDPOINT replaces it with a mirror. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** One file of a repository at a pinned commit. */
export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  path: string;
  /** Size in bytes, when the hub said (model info with `blobs=true`). */
  size?: number;
  /** sha256 of the content for LFS files (the hub's LFS object id); undefined for plain git files. */
  sha256?: string;
}

export interface RepoSnapshot {
  repo: string;
  /** What the caller asked for: a branch, tag or commit. */
  revision: string;
  /** The commit `revision` resolved to; every file download is pinned to it. */
  commit: string;
  files: HubFile[];
}

/** A started download: the body and what the response headers told about the file. */
export interface HubDownload {
  /** 200 for the whole file, 206 when the Range request was honoured. */
  status: 200 | 206;
  /** Byte offset of the body's first byte in the file. */
  start: number;
  /** Full file size from Content-Range, X-Linked-Size or Content-Length. */
  totalSize?: number;
  /** sha256 from X-Linked-Etag (LFS files only). */
  linkedSha256?: string;
  /** Git blob sha1 of a non-LFS file: the hub sends it as the ETag of `resolve` (no X-Linked-Etag then). */
  gitBlobSha1?: string;
  body: ReadableStream<Uint8Array>;
}

/**
 * A network or server failure. `retryable` marks the ones worth another try (connection resets, 5xx, 429);
 * everything else is final.
 */
export class HubRequestError extends Error {
  override readonly name = 'HubRequestError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HubClientOptions {
  /** @default DEFAULT_HUB_ENDPOINT */
  endpoint?: string;
  /** HF_TOKEN: sent as `Authorization: Bearer` to the endpoint's own origin only, never logged. */
  token?: string;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
}

// The subset of the model info API we read. `lfs.sha256` is what /api/models returns; the tree API calls the
// same value `oid`, which some mirrors copy.
const siblingSchema = z.object({
  rfilename: z.string().min(1),
  size: z.number().int().nonnegative().optional(),
  lfs: z
    .object({
      sha256: z.string().optional(),
      oid: z.string().optional(),
      size: z.number().int().nonnegative().optional(),
    })
    .nullish(),
});
const modelInfoSchema = z.object({ sha: z.string().min(1), siblings: z.array(siblingSchema) });

const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}(\/[A-Za-z0-9][\w.-]{0,95})?$/;
const MAX_REDIRECTS = 10;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHA1_HEX = /^[0-9a-f]{40}$/;

/** Throws a UserError unless `repo` looks like `owner/name`. */
export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..') || repo.endsWith('.git')) {
    throw new UserError(Identifiers.InvalidArgument, `"${repo}" is not a Hugging Face repository id: use owner/name, e.g. stabilityai/sd-turbo.`, {
      repo,
    });
  }
}

/** Normalises HF_ENDPOINT; throws a UserError naming the variable when it is not an http(s) URL. */
export function parseHubEndpoint(value: string | undefined): string {
  const raw = value?.trim() || DEFAULT_HUB_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(Identifiers.InvalidArgument, `HF_ENDPOINT must be an http(s) URL; got "${raw}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(Identifiers.InvalidArgument, `HF_ENDPOINT must be an http(s) URL; got "${raw}".`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Replace every occurrence of `secret` in `text`; used on every message that could echo a header back. */
export function redactSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[HF_TOKEN]') : text;
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Strip the quotes and weak prefix an ETag may carry. */
function etagValue(header: string | null): string | undefined {
  const value = header?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  return value || undefined;
}

/** Host and path only: signed CDN URLs carry credentials in their query string. */
function safeUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * A small client for the two Hub routes models:pull needs: the model info API and `resolve` downloads. It
 * follows redirects itself so that the token never leaves the hub's origin (the CDN gets signed URLs instead).
 */
export class HubClient {
  readonly endpoint: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: HubClientOptions = {}) {
    this.endpoint = parseHubEndpoint(options.endpoint);
    this.#token = options.token?.trim() || undefined;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /** Resolve `revision` to a commit and list the repository's files with sizes and LFS hashes. */
  async getRepoSnapshot(repo: string, revision: string, signal?: AbortSignal): Promise<RepoSnapshot> {
    checkRepoId(repo);
    const url = `${this.endpoint}/api/models/${encodePath(repo)}/revision/${encodeURIComponent(revision)}?blobs=true`;
    const response = await this.#request(url, {}, signal, { repo, revision });
    let json: unknown;
    try {
      json = await response.json();
    } catch (error) {
      throw new HubRequestError(`The hub sent malformed JSON for ${repo}@${revision}.`, true, response.status, {
        cause: error,
      });
    }
    const parsed = modelInfoSchema.safeParse(json);
    if (!parsed.success) {
      throw new HubRequestError(
        `The hub's model info for ${repo}@${revision} lacks ${parsed.error.issues[0].path.join('.') || 'fields'}.`,
        false,
        response.status,
      );
    }
    const files = parsed.data.siblings.map((s): HubFile => {
      const sha = (s.lfs?.sha256 ?? s.lfs?.oid)?.replace(/^sha256:/, '').toLowerCase();
      return {
        path: s.rfilename,
        size: s.lfs?.size ?? s.size,
        sha256: sha && SHA256_HEX.test(sha) ? sha : undefined,
      };
    });
    return { repo, revision, commit: parsed.data.sha, files };
  }

  /** GET `resolve/{commit}/{path}` from byte `offset` on. A 416 (offset at or past the end) comes back as null. */
  async download(repo: string, commit: string, path: string, offset = 0, signal?: AbortSignal): Promise<HubDownload | null> {
    const url = `${this.endpoint}/${encodePath(repo)}/resolve/${encodeURIComponent(commit)}/${encodePath(path)}`;
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    // HEAD-like headers (X-Linked-*) come on the hub's redirect, not on the CDN's final response.
    const seen: Headers[] = [];
    const response = await this.#request(url, headers, signal, { repo, revision: commit, path }, seen, [416]);
    if (response.status === 416) {
      await response.body?.cancel();
      return null;
    }
    if (!response.body) throw new HubRequestError(`Empty response for ${path}.`, true, response.status);
    const header = (name: string): string | null => {
      for (const h of [response.headers, ...seen]) if (h.get(name) !== null) return h.get(name);
      return null;
    };
    const linkedSize = Number(header('x-linked-size') ?? NaN);
    const contentLength = Number(response.headers.get('content-length') ?? NaN);
    const linkedSha = etagValue(header('x-linked-etag'));
    const etag = etagValue(response.headers.get('etag'));
    let start = 0;
    let totalSize = Number.isFinite(linkedSize) ? linkedSize : undefined;
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (!range) {
        await response.body.cancel();
        throw new HubRequestError(`The server answered a range request for ${path} without Content-Range.`, true, 206);
      }
      start = Number(range[1]);
      if (range[3] !== '*') totalSize = Number(range[3]);
    } else if (totalSize === undefined && Number.isFinite(contentLength)) {
      totalSize = contentLength;
    }
    return {
      status: response.status === 206 ? 206 : 200,
      start,
      totalSize,
      linkedSha256: linkedSha && SHA256_HEX.test(linkedSha) ? linkedSha : undefined,
      gitBlobSha1: linkedSha === undefined && etag && SHA1_HEX.test(etag) ? etag : undefined,
      body: response.body,
    };
  }

  async #request(
    url: string,
    extraHeaders: Record<string, string>,
    signal: AbortSignal | undefined,
    what: { repo: string; revision: string; path?: string },
    seen: Headers[] = [],
    passStatuses: number[] = [],
  ): Promise<Response> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { ...extraHeaders, 'User-Agent': 'imagine-bot/models-pull' };
      // Only the hub's own origin gets the token; redirects to a CDN or anywhere else go without it.
      if (this.#token && new URL(current).origin === origin) headers.Authorization = `Bearer ${this.#token}`;
      let response: Response;
      try {
        response = await this.#fetch(current, { headers, redirect: 'manual', signal });
      } catch (error) {
        if (signal?.aborted) throw error;
        const cause = (error as Error).cause;
        const detail = redactSecret(cause ? String(cause) : String(error), this.#token);
        throw new HubRequestError(`Cannot reach ${safeUrl(current)}: ${detail}`, true, undefined, { cause: error });
      }
      if (response.status >= 300 && response.status < 400 && response.headers.get('location')) {
        seen.push(response.headers);
        await response.body?.cancel();
        current = new URL(response.headers.get('location')!, current).href;
        continue;
      }
      if (response.ok || passStatuses.includes(response.status)) return response;
      await response.body?.cancel();
      throw this.#statusError(response, what);
    }
    throw new HubRequestError(`Too many redirects for ${safeUrl(url)}.`, false);
  }

  /**
   * A 401 to a request with a token: the hub rejects the token itself ("Invalid credentials") before it looks at
   * the repository, so a public repository would otherwise read as "not found". A 401 that names RepoNotFound is
   * about the repository, not the token.
   */
  #tokenRefused(response: Response, code: string): boolean {
    if (!this.#token || response.status !== 401) return false;
    return /invalid credentials/i.test(response.headers.get('x-error-message') ?? '') || code !== 'RepoNotFound';
  }

  #statusError(response: Response, what: { repo: string; revision: string; path?: string }): Error {
    const code = response.headers.get('x-error-code') ?? '';
    const { repo, revision, path } = what;
    const page = `${this.endpoint}/${repo}`;
    if (this.#tokenRefused(response, code)) {
      return new UserError(
        Identifiers.NotAllowed,
        `The hub refused your HF_TOKEN (invalid or expired): unset HF_TOKEN for public repositories, or create a ` +
          `new token at ${this.endpoint}/settings/tokens and set HF_TOKEN to it.`,
        { repo, status: response.status },
      );
    }
    if (code === 'GatedRepo' || (response.status === 403 && this.#token)) {
      return new UserError(
        Identifiers.NotAllowed,
        this.#token
          ? `${repo} is gated and your HF_TOKEN has no access: accept its terms at ${page} with the token's account.`
          : `${repo} is gated: accept its terms at ${page}, then set HF_TOKEN to a read token of that account.`,
        { repo, status: response.status },
      );
    }
    if (code === 'RevisionNotFound') {
      return new UserError(Identifiers.NotFound, `${repo} has no revision "${revision}": pass --revision with an existing branch, tag or commit.`, {
        repo,
        revision,
      });
    }
    if (code === 'EntryNotFound' && path) {
      return new HubRequestError(`${repo}@${revision} lists ${path} but the hub cannot serve it.`, false, 404);
    }
    if (response.status === 401 || response.status === 404 || code === 'RepoNotFound') {
      // Without a token the hub answers 401 for private repositories and for ones that do not exist alike.
      return new UserError(
        Identifiers.NotFound,
        this.#token || response.status === 404
          ? `${repo} was not found on ${this.endpoint}: check the repository id (owner/name).`
          : `${repo} was not found on ${this.endpoint}: check the id, or set HF_TOKEN if it is private.`,
        { repo, status: response.status },
      );
    }
    const retryable = response.status === 429 || response.status >= 500;
    return new HubRequestError(
      `${safeUrl(response.url || page)} answered HTTP ${response.status}${path ? ` for ${path}` : ''}.`,
      retryable,
      response.status,
    );
  }
}
