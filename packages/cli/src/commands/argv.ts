// yargs' inferred option types do not survive a chain of nested commands whose handlers
// declare their own argument interfaces; commands type their arguments themselves and
// build on a loosely typed yargs instance.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Y = any;
