import type { StoreReader } from '@facegan/store';

/**
 * Where routes get the store from. It may answer null (no database yet): the report starts before the
 * first sweep and picks the database up once it exists.
 */
export type StoreSource = () => Promise<StoreReader | null>;
