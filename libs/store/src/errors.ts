/** The store file does not exist (yet): nothing has been run. The report shows a "run a sweep first" page. */
export class StoreMissingError extends Error {
  override readonly name = 'StoreMissingError';

  constructor(readonly path: string) {
    super(`No store at ${path}. Run a sweep first to create it.`);
  }
}

/** The store's schema is one this code cannot use: written by a newer facegan, or too old to read without migrating. */
export class StoreVersionError extends Error {
  override readonly name = 'StoreVersionError';

  constructor(
    readonly path: string,
    readonly foundVersion: number,
    readonly supportedVersions: { min: number; max: number },
  ) {
    super(
      foundVersion > supportedVersions.max
        ? `Store ${path} has schema version ${foundVersion}, newer than this code knows (${supportedVersions.max}). Update facegan.`
        : `Store ${path} has schema version ${foundVersion}; reading needs ${supportedVersions.min}..${supportedVersions.max}. ` +
            `Open it once for writing (e.g. run a sweep) to migrate it.`,
    );
  }
}
