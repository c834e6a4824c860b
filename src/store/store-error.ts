/**
 * The store cannot be used: a corrupt or foreign database file, an unwritable DATA_DIR, a database written by a
 * newer version. The message says what to do; `path` names the file or folder.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
