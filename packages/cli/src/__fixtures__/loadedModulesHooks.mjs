// Module hooks recording each resolved URL. Written at once, synchronously: the process may
// exit right after its last import (`homing --version`), before any message would arrive.
import { appendFileSync } from 'node:fs';

let file;

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
