import { ownPackageJson } from './own-files.js';

/** The package version, read once from package.json (beside dist/, or inside the executable). */
export const VERSION: string = (JSON.parse(ownPackageJson()) as { version: string }).version;
