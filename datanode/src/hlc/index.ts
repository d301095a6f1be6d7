/** The hybrid logical clock that writes and backups carry. */
export * from './hlc.ts';
