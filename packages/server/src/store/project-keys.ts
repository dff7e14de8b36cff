import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { StoreError } from './errors.js';
import type { KeysToRotate, Project } from './store.js';

/**
 * Project keys. The store looks a key up by its SHA-256 (so the lookup's timing says nothing about
 * how much of a key matched), then compares the stored key with `timingSafeEqual`.
 */
export function newWriteKey(): string {
  return `hw_${randomBytes(24).toString('base64url')}`;
}

export function newAdminKey(): string {
  return `ha_${randomBytes(32).toString('base64url')}`;
}

export function newProjectId(): string {
  return randomUUID();
}

export function keyHash(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function sameKey(stored: string, given: string): boolean {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A new project's id and keys, created now; not stored yet. */
export function newProject(name: string): Project {
  return {
    id: newProjectId(),
    name,
    writeKey: newWriteKey(),
    adminKey: newAdminKey(),
    createdAt: new Date().toISOString(),
  };
}

/** `p` with new random keys in place of those `which` names (not stored yet). */
export function withNewKeys(p: Project, which: KeysToRotate): Project {
  return {
    ...p,
    writeKey: which.write ? newWriteKey() : p.writeKey,
    adminKey: which.admin ? newAdminKey() : p.adminKey,
  };
}

/** Refuses a rotation that names no key (an `invalid-input` error). */
export function checkKeysToRotate(which: KeysToRotate): void {
  if (which === null || typeof which !== 'object' || (which.write !== true && which.admin !== true))
    throw new StoreError('invalid-input', 'name the keys to rotate: write, admin or both');
}
