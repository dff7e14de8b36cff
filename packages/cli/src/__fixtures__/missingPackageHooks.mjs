// Module hooks that answer one package as missing, as an install without it would.
let missing;

export function initialize(data) {
  missing = data.missing;
}

export async function resolve(specifier, context, next) {
  if (specifier === missing) {
    const error = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
