import { describe, expect, it } from 'vitest';
import { loggableError } from './loggableError.js';
import { StoreError } from './store/errors.js';

describe('loggableError', () => {
  it("keeps name, code, message and stack, never a driver's detail or a cause chain", () => {
    const pgError = Object.assign(
      new Error('duplicate key value violates unique constraint "erasures_pkey"'),
      {
        code: '23505',
        detail: 'Key (distinct_id)=(secret-person-9d1e) already exists.',
        cause: new Error('row {"email":"secret@example.com"}'),
      },
    );
    const logged = JSON.stringify(
      loggableError(new StoreError('storage', 'erasure failed', { cause: pgError })),
    );
    expect(logged).toContain('StoreError');
    expect(logged).toContain('erasure failed');
    const direct = loggableError(pgError);
    expect(direct).toMatchObject({ type: 'Error', code: '23505', message: pgError.message });
    expect(direct.stack).toContain('duplicate key value');
    for (const l of [logged, JSON.stringify(direct)]) {
      expect(l).not.toContain('secret-person-9d1e');
      expect(l).not.toContain('secret@example.com');
    }
    expect(loggableError('text')).toEqual({ type: 'string' });
    expect(loggableError(null)).toEqual({ type: 'object' });
  });
});
