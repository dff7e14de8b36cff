import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.js';

describe('homing CLI', () => {
  it('names itself and has a version', () => {
    const program = buildProgram();
    expect(program.name()).toBe('homing');
    expect(program.version()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
