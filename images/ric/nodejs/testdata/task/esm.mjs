import { basename } from 'path';

export const handler = async (event) => ({ esm: true, file: basename(new URL(import.meta.url).pathname), event });
