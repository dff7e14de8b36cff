import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

/**
 * A test page's entry bundled for Chromium from the sources (the `homing-source` condition),
 * with React's development or production build.
 */
export async function bundlePage(entry: URL, mode: 'development' | 'production'): Promise<string> {
  const build = await rolldown({
    input: fileURLToPath(entry),
    platform: 'browser',
    resolve: {
      conditionNames: ['homing-source', 'browser', 'import', 'default'],
      extensionAlias: { '.js': ['.ts', '.js'] },
    },
    transform: { define: { 'process.env.NODE_ENV': JSON.stringify(mode) } },
    logLevel: 'silent',
  });
  try {
    const { output } = await build.generate({ format: 'esm' });
    return output[0].code;
  } finally {
    await build.close();
  }
}
